#!/usr/bin/env python3
"""Reads what examples/servo/run.sh wrote to OUT and reports; exits 1 unless the firmware's
returns equal the host's, episode for episode and bit for bit (both print Rust's shortest
round-trip text, so the parsed doubles must be equal), as scripts/firmware_check.py checks.
Usage: check.py OUT
"""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
summary = json.loads((out / "summary.json").read_text())
export = json.loads((out / "export.json").read_text())
host = json.loads((out / "host.json").read_text())
pd = json.loads((out / "pd.json").read_text())
mcu = (out / "mcu.txt").read_text().splitlines()

eps = [dict(kv.split("=", 1) for kv in l.split()) for l in mcu if l.startswith("episode=")]
fields = dict(kv.split("=", 1) for kv in next(l for l in mcu if l.startswith("summary ")).split()[1:])
bad = []
if len(eps) != len(host["returns"]):
    bad.append(f"{len(eps)} firmware episodes for {len(host['returns'])} on the host")
for e, s, r in zip(eps, host["seeds"], host["returns"]):
    if int(e["seed"]) != s or float(e["return"]) != float(r):
        bad.append(f"seed {e['seed']}: firmware {e['return']}, host {r!r} (seed {s})")
if float(fields["mean_return"]) != float(host["mean_return"]):
    bad.append(f"mean: firmware {fields['mean_return']}, host {host['mean_return']!r}")
if pd["seeds"] != host["seeds"]:
    bad.append("the PD controller ran other seeds")

print(f"Servo-v0, PPO, seed {summary['seed']}: {summary['total_steps']} steps, "
      f"{summary['train_seconds']:.1f} s of training, final evaluation mean {summary['final_eval_mean']:.3f}")
print(f"int8 export: {export['bytes']} bytes, {export['macs']} MACs; "
      f"return {export['return_reference']:.3f} (f32 network) -> {export['return_exported']:.3f} (int8 file)")
print(f"host, int8 file through core, seeds {host['seeds'][0]}..{host['seeds'][-1]}: "
      f"mean return {host['mean_return']:.4f}")
print(f"MCU (QEMU, Cortex-M4F): mean return {fields['mean_return']}, "
      f"{fields['instructions_per_inference']} instructions per inference, "
      f"flash {fields['flash_bytes']} B, RAM {fields['ram_bytes']} B")
print(f"PD (kp {pd['kp']}, kd {pd['kd']}) on the same episodes: mean return {pd['mean_return']:.4f}")
if bad:
    for b in bad:
        print("FAIL " + b)
    print(f"host == MCU: FAIL ({len(bad)} differences)")
    sys.exit(1)
print(f"host == MCU: PASS, {len(eps)} episodes bit for bit")
