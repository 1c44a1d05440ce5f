#!/usr/bin/env python3
"""Dependency direction check: fails when a cycle between top-level modules of the service
crate (or between the submodules of one of them) comes back, or when the models crate gains
an I/O dependency.

A module `a` depends on `b` when code in `a` (comments and `#[cfg(test)]` blocks aside)
names `crate::b` (or, inside `b`'s siblings, `super::b`). Prints the module graph and exits
1 on any cycle, naming the edges that close it and where they are. Crate cycles cannot occur
(Cargo refuses them); the models crate's dependency tree is checked instead.
"""
import collections
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")
FORBIDDEN = ("tokio", "sqlx", "actix", "object_store", "parquet")


def code_lines(path):
    """Yields (line number, text) outside comments and `#[cfg(test)]` modules."""
    in_test, depth = False, 0
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        text = line.strip()
        if text.startswith("//"):
            continue
        if text.startswith("#[cfg(test)]"):
            in_test, depth = True, 0
            continue
        if in_test:
            depth += line.count("{") - line.count("}")
            if depth <= 0 and "}" in line:
                in_test = False
            continue
        yield number, text


def names_in(text, prefix):
    names = set(re.findall(prefix + r"(\w+)", text))
    for group in re.findall(prefix + r"\{([^}]*)", text):
        names |= set(re.findall(r"(?:^|,)\s*(\w+)", group))
    return names


def graph(modules, prefix, local_prefix=None, local_dir=None):
    edges = collections.defaultdict(dict)
    for module, files in modules.items():
        for path in files:
            for number, text in code_lines(path):
                names = names_in(text, prefix)
                if local_prefix and os.path.dirname(path) == local_dir:
                    names |= names_in(text, local_prefix)
                names = {"error" if n in ("Result", "Error") and prefix == r"crate::" else n for n in names}
                for name in names:
                    if name in modules and name != module:
                        edges[module].setdefault(name, f"{os.path.relpath(path, ROOT)}:{number}")
    return edges


def cycles(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def rust_files(directory):
    return [os.path.join(d, f) for d, _, fs in os.walk(directory) for f in fs if f.endswith(".rs")]


def top_level():
    modules = {}
    for entry in sorted(os.listdir(SRC)):
        path = os.path.join(SRC, entry)
        if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
            modules[entry[:-3]] = [path]
        elif os.path.isdir(path):
            modules[entry] = rust_files(path)
    return modules


def submodules(top):
    directory = os.path.join(SRC, top)
    modules = {}
    for path in rust_files(directory):
        rel = os.path.relpath(path, directory)
        if rel == "mod.rs":
            continue
        modules.setdefault(rel.split(os.sep)[0].removesuffix(".rs"), []).append(path)
    return modules, directory


def report(title, modules, edges):
    found = cycles(modules, edges)
    for component in found:
        print(f"CYCLE in {title}: {' <-> '.join(component)}")
        for a in component:
            for b, where in sorted(edges[a].items()):
                if b in component:
                    print(f"  {a} -> {b} ({where})")
    return len(found)


def models_tree():
    out = subprocess.run(
        ["cargo", "tree", "-p", "recast-models", "-e", "normal", "--prefix", "none"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    crates = {line.split()[0] for line in out.splitlines() if line.strip()}
    return sorted(c for c in crates if any(c == f or c.startswith(f + "-") or c.startswith(f + "_") for f in FORBIDDEN))


def main():
    failures = 0
    modules = top_level()
    edges = graph(modules, r"crate::")
    print("top-level modules (a -> what a uses):")
    for module in sorted(modules):
        print(f"  {module} -> {', '.join(sorted(edges[module])) or '-'}")
    failures += report("src/", modules, edges)
    for top in sorted(m for m in modules if os.path.isdir(os.path.join(SRC, m))):
        subs, directory = submodules(top)
        sub_edges = graph(subs, rf"crate::{top}::", r"(?<!super::)super::", directory)
        failures += report(f"src/{top}/", subs, sub_edges)
    forbidden = models_tree()
    if forbidden:
        print(f"recast-models depends on I/O crates: {', '.join(forbidden)}")
        failures += 1
    else:
        print(f"recast-models: no {', '.join(FORBIDDEN)} in its dependency tree")
    print("no cycles" if failures == 0 else f"{failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
