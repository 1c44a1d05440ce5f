#!/usr/bin/env python3
"""Checks that docker/Dockerfile's build stage copies everything a locked `cargo build` of the
workspace reads: the manifests, every target's path (benches and tests included: cargo
refuses a manifest whose targets are missing), workspace members, and every file the code
embeds at compile time (include_str!/include_bytes!/sqlx::migrate!). No image builder or base
image registry is reachable here, so this is the check CI can make; it fails naming what is
missing."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
# The build stage: from the first FROM line to the next one.
stages = re.split(r"(?m)^FROM ", dockerfile)
build_stage = stages[1] if len(stages) > 1 else dockerfile
copied = set()
for line in build_stage.splitlines():
    parts = line.split()
    if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
        copied.update(pathlib.PurePosixPath(p).parts[0] for p in parts[1:-1])

needed = {}  # top-level entry -> why


def need(path: pathlib.Path, why: str) -> None:
    rel = path.resolve().relative_to(ROOT)
    needed.setdefault(rel.parts[0], why)


for manifest in [ROOT / "Cargo.toml", *ROOT.glob("crates/*/Cargo.toml")]:
    need(manifest, "a manifest")
    for m in re.finditer(r'path\s*=\s*"([^"]+)"', manifest.read_text()):
        need(manifest.parent / m.group(1), f"a path in {manifest.relative_to(ROOT)}")
    for bench in re.finditer(r'\[\[bench\]\]\s*name\s*=\s*"([^"]+)"', manifest.read_text()):
        need(manifest.parent / "benches", f"bench `{bench.group(1)}`")
need(ROOT / "Cargo.lock", "--locked")
embed = re.compile(r'(?:include_str|include_bytes)!\("([^"]+)"\)|migrate!\("([^"]+)"\)')
for source in [*ROOT.glob("src/**/*.rs"), *ROOT.glob("crates/*/src/**/*.rs")]:
    for m in embed.finditer(source.read_text()):
        if m.group(1):
            target = source.parent / m.group(1)
        else:  # sqlx::migrate! paths are relative to the crate's manifest
            crate = next(p for p in source.parents if (p / "Cargo.toml").exists())
            target = crate / m.group(2)
        need(target, f"embedded by {source.relative_to(ROOT)}")

missing = {entry: why for entry, why in sorted(needed.items()) if entry not in copied}
for entry, why in missing.items():
    print(f"docker/Dockerfile does not copy `{entry}` ({why})", file=sys.stderr)
if missing:
    sys.exit(1)
print(f"docker build context: {', '.join(sorted(needed))} all copied")
