#!/usr/bin/env python3
"""Fails when the host crate's modules import each other in a cycle.

Usage: scripts/module_cycles.py [SRC_DIR]   (default: host/src)
       scripts/module_cycles.py --self-test     (the check finds a planted cycle, and only it)

Every `.rs` file is a module (`algo/dqn.rs` is `algo::dqn`, `train/mod.rs` is `train`). A module
depends on another when its text names it through a `crate::` or `super::` path, in a `use` (with
`{…}` groups expanded) or inline. Two graphs are checked:

- rooms: the top-level modules (`cli`, `train`, `algo`, `envs`, `export`, `viz`, …); an edge joins
  two rooms when any file of one names the other;
- modules: every file, so that two files of one room cannot lean on each other either.

A parent naming its own child (`mod.rs` re-exporting `pub use child::Item`) is how a room shows its
door, not an import, so edges from an ancestor to its descendant are ignored. The other direction
(a child naming its parent's items) counts. Cycles are printed as `a -> b -> a`, and the exit
status is 1 when there is any; 0 when the graphs are acyclic.
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super)((?:::\w+)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super)((?:::\w+)*)::\{", re.S)


def module_of(src: Path, file: Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand_groups(text: str):
    """Yields `(root, path)` for each leaf of every `use root::a::{b, c::{d}}`."""
    for m in USE_GROUP.finditer(text):
        root, prefix = m.group(1), m.group(2)
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[m.end() : i - 1]
        yield from leaves(root, prefix, body)


def leaves(root, prefix, body):
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    for item in (s.strip() for s in items):
        if not item:
            continue
        if "{" in item:
            head, rest = item.split("{", 1)
            yield from leaves(root, prefix + "::" + head.strip().rstrip(":").rstrip(":"), rest.rsplit("}", 1)[0])
        else:
            yield root, prefix + "::" + item.split(" as ")[0].strip()


def resolve(modules, here, root, path):
    names = [p for p in path.split("::") if p and p != "self"]
    if root == "crate":
        base = []
    else:
        # `super` from `algo::dqn` is `algo`; from a mod.rs (`algo`), it is the crate.
        base = list(here[:-1])
        while names and names[0] == "super":
            names.pop(0)
            base = base[:-1]
    full = base + names
    # The longest prefix that is a module of ours.
    for n in range(len(full), 0, -1):
        if tuple(full[:n]) in modules:
            return tuple(full[:n])
    return None


def cycles(graph):
    """Strongly connected components of more than one node (Tarjan), each as one cycle path."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def one_cycle(graph, comp):
    """A concrete cycle through the first node of a component, by breadth-first search."""
    start, members = comp[0], set(comp)
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w in members and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def self_test():
    """Plants a cycle between two rooms (through a `use` group) and one between two files of a
    room (through `super::`) in a scratch crate, and checks that both are found; then removes them
    and checks that the crate passes. Exits 1 on any miss."""
    import subprocess
    import tempfile

    files = {
        "lib.rs": "pub mod a;\npub mod b;\n",
        "a/mod.rs": "//! uses b: `crate::b::x` in a comment does not count\npub mod p;\npub mod q;\nuse crate::{b::{self, Thing}};\n",
        "a/p.rs": "use super::q::f;\n",
        "a/q.rs": "pub fn f() { super::p::g() }\n",
        "b/mod.rs": "pub fn x() { crate::a::p::g() }\n",
    }
    clean = {
        "lib.rs": files["lib.rs"],
        "a/mod.rs": "pub mod p;\npub mod q;\nuse crate::b::Thing;\n",
        "a/p.rs": "use super::q::f;\n",
        "a/q.rs": "pub fn f() {}\n",
        "b/mod.rs": "pub fn x() {}\n",
    }
    ok = True
    for name, tree, want_rc, want in (
        ("cycles", files, 1, ["cycle among rooms: a -> b -> a", "cycle among modules: a::p -> a::q -> a::p"]),
        ("clean", clean, 0, ["no import cycle among"]),
    ):
        with tempfile.TemporaryDirectory() as d:
            for rel, text in tree.items():
                f = Path(d) / rel
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(text)
            r = subprocess.run([sys.executable, __file__, d], capture_output=True, text=True)
            good = r.returncode == want_rc and all(w in r.stdout for w in want)
            print(f"{'PASS' if good else 'FAIL'} self-test {name}: exit {r.returncode}")
            if not good:
                print(r.stdout)
                ok = False
    sys.exit(0 if ok else 1)


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "host/src")
    files = sorted(src.rglob("*.rs"))
    if not files:
        sys.exit(f"error: no .rs files under {src}")
    modules = {module_of(src, f): f for f in files}
    edges = {m: set() for m in modules}
    for m, f in modules.items():
        text = strip_comments(f.read_text())
        refs = list(expand_groups(text)) + [(r, p) for r, p in PATH.findall(text)]
        for root, path in refs:
            target = resolve(modules, m, root, path)
            if target is None or target == m or target[: len(m)] == m:
                continue  # unknown (an extern path), itself, or its own descendant
            edges[m].add(target)
    rooms = {}
    for m, ts in edges.items():
        for t in ts:
            if m and t and m[0] != t[0]:
                rooms.setdefault(m[0], set()).add(t[0])
    bad = 0
    for label, graph, show in (
        ("rooms", rooms, lambda v: v),
        ("modules", edges, lambda v: "::".join(v) or "crate"),
    ):
        for comp in cycles(graph):
            bad += 1
            print(f"cycle among {label}: " + " -> ".join(show(v) for v in one_cycle(graph, comp)))
            inside = set(comp)
            for v in comp:
                for w in sorted(graph.get(v, ()) & inside):
                    print(f"  {show(v)} uses {show(w)}")
    if bad:
        print(f"{bad} import cycle(s) among the modules under {src}")
        sys.exit(1)
    print(f"no import cycle among {len(modules)} modules in {len({m[0] for m in modules if m})} rooms under {src}")


if __name__ == "__main__":
    main()
