// The environment that the `rltools` Python package (PyPI) compiles into its training loop when it
// is given {"path": <this folder>, ...} instead of a Gymnasium factory: RLtools' own C++
// Pendulum, the one its zoo trains on (rl_tools/rl/environments/pendulum, shipped inside the
// package). The package's training.cpp includes <environment.h> and takes
// `ENVIRONMENT_FACTORY<T, TI>` as the environment type. Used by benches/rltools_pendulum.py
// (`--env-impl cpp`); picorl's own code never includes it.
#include <rl_tools/rl/environments/pendulum/operations_cpu.h>

template <typename T, typename TI>
using ENVIRONMENT_FACTORY = rl_tools::rl::environments::Pendulum<
    rl_tools::rl::environments::pendulum::Specification<T, TI>>;
