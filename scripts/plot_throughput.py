#!/usr/bin/env python3
"""Turns the e2e benchmark's sweep (benches/results/throughput.csv) into an SVG line chart:
median throughput of the uploader and of the bare ureq loop against the chunk size, with every
run as a faint dot. Standard library only.

    python3 scripts/plot_throughput.py [CSV] [SVG]
    (defaults: benches/results/throughput.csv, docs/throughput.svg)
"""
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benches/results/throughput.csv"
out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs/throughput.svg"

runs = defaultdict(list)  # (client, chunk) -> [MiB/s]
with open(src, newline="") as f:
    for row in csv.DictReader(f):
        runs[(row["client"], int(row["chunk_bytes"]))].append(float(row["mib_per_s"]))
chunks = sorted({c for _, c in runs})
clients = [("baseline", "bare ureq PUT loop", "#888888"), ("uploader", "todo-upload (core + ureq)", "#1f6fb4")]

W, H = 760, 440
L, R, T, B = 80, 30, 50, 70
pw, ph = W - L - R, H - T - B
xmin, xmax = 0, 4.0  # MB (10^6 bytes): the chunk limit is just under 4 MB
ymax_data = max(v for vs in runs.values() for v in vs)
step = 250 if ymax_data < 2500 else 500
ymax = step * (int(ymax_data // step) + 1)


def x(mb):
    return L + (mb - xmin) / (xmax - xmin) * pw


def y(v):
    return T + ph - v / ymax * ph


parts = [
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
    'font-family="DejaVu Sans, Arial, sans-serif" font-size="13">',
    f'<rect width="{W}" height="{H}" fill="white"/>',
    f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="16">'
    "Whole 25 MiB upload to the emulator on loopback: throughput vs chunk size</text>",
]
for i in range(0, ymax + 1, step):
    parts.append(f'<line x1="{L}" y1="{y(i):.1f}" x2="{L + pw}" y2="{y(i):.1f}" stroke="#e4e4e4"/>')
    parts.append(f'<text x="{L - 8}" y="{y(i) + 4:.1f}" text-anchor="end">{i}</text>')
for mb in [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]:
    parts.append(f'<line x1="{x(mb):.1f}" y1="{T + ph}" x2="{x(mb):.1f}" y2="{T + ph + 5}" stroke="black"/>')
    parts.append(f'<text x="{x(mb):.1f}" y="{T + ph + 20}" text-anchor="middle">{mb:g}</text>')
parts.append(f'<line x1="{L}" y1="{T + ph}" x2="{L + pw}" y2="{T + ph}" stroke="black"/>')
parts.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{T + ph}" stroke="black"/>')
parts.append(
    f'<text x="{L + pw / 2}" y="{H - 22}" text-anchor="middle">chunk size (MB; multiples of 320 KiB)</text>'
)
parts.append(
    f'<text transform="translate(22 {T + ph / 2}) rotate(-90)" text-anchor="middle">MiB/s (median of runs; dots: each run)</text>'
)

for k, (client, label, colour) in enumerate(clients):
    pts = []
    for c in chunks:
        vs = runs.get((client, c), [])
        if not vs:
            continue
        mb = c / 1e6
        dx = -4 if k == 0 else 4
        for v in vs:
            parts.append(f'<circle cx="{x(mb) + dx:.1f}" cy="{y(v):.1f}" r="2" fill="{colour}" fill-opacity="0.25"/>')
        pts.append((x(mb), y(statistics.median(vs))))
    if pts:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for px, py in pts:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}"/>')
    ly = T + 18 + 20 * k
    parts.append(f'<line x1="{L + pw - 230}" y1="{ly}" x2="{L + pw - 205}" y2="{ly}" stroke="{colour}" stroke-width="2.5"/>')
    parts.append(f'<text x="{L + pw - 198}" y="{ly + 4}">{label}</text>')
parts.append("</svg>")

out.parent.mkdir(parents=True, exist_ok=True)
out.write_text("\n".join(parts) + "\n")
print(f"wrote {out}")
