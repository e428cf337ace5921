#!/usr/bin/env python3
"""The step-time model of docs/scaling.md ("Round 4: the model"), fitted to deploy/shaped-links.sh JSON lines.

usage: bench/scaling_model.py FILE.jsonl [--rate-mbit 1000] [--lines FIRST-LAST]

--lines: only those JSON lines of the file (1-based, inclusive), e.g. one round of docs/scaling-2026-12-02b-tree.jsonl

Model (times in ms, tau = 8 / rate seconds per byte, P the model's bytes, N workers, S = 16 shards):

  compute(N)  = W_d * S / min(N, 2)          this machine: N worker processes share 2 cores (W_d: one shard, hidden d)
  star:  T = compute(N) + sigma * 2*N*P*tau + h_s * N
  tree:  T = compute(N) + lam * 2*(1 + log2 N)*P*tau + h_t * (2 + 2*log2 N)

2*N*P is what the star's coordinator link carries per step (N parameter copies out, N sums in); sigma is the part of
it on the step's critical path (1: sending and receiving never overlap). 2*(1 + log2 N)*P is what the tree's busiest
link carries (the root's owner: parameters in, one copy per level out, one sum per level in, the root out); lam is
likewise its critical part. h_s: the star's cost per worker and step beyond bytes (messages, scheduling); h_t: the
tree's cost per hop (a step is 2 + 2*log2 N hops deep: plan and parameters down, sums up). No constant term: with
one, the fit on this loaded machine makes it negative (about -15 ms), which has no meaning and would flatter every
prediction. All six (W_256, W_1024, sigma, h_s, lam, h_t) are fitted together by linear least squares to every run's
step_ms_median. Prediction for a cluster of machines (one worker per machine, one compute thread as here), weak
scaling: every worker does per step what the one worker of the N = 1 runs does (batch 32, S = 16 shards, so the
global batch is 32*N): compute = S * W_d, the rest as fitted, at the given rates; efficiency = compute / T (1 would
be a step as fast as a lone worker's compute).
"""
import json, math, sys

P = {256: 396_548, 1024: 4_731_140}
S = 16


def features(plane, n, hidden, tau):
    p = P[hidden]
    comp = S / min(n, 2)
    row = [comp if hidden == 256 else 0.0, comp if hidden == 1024 else 0.0]
    if plane == "star":
        row += [2 * n * p * tau, n, 0.0, 0.0]
    else:
        lg = math.log2(n)
        row += [0.0, 0.0, 2 * (1 + lg) * p * tau, 2 + 2 * lg]
    return row


def solve(a, b):
    """Least squares via the normal equations (small, well-posed here), Gaussian elimination with pivoting."""
    k = len(a[0])
    m = [[sum(r[i] * r[j] for r in a) for j in range(k)] + [sum(r[i] * y for r, y in zip(a, b))] for i in range(k)]
    for c in range(k):
        piv = max(range(c, k), key=lambda r: abs(m[r][c]))
        m[c], m[piv] = m[piv], m[c]
        for r in range(k):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][k] / m[i][i] for i in range(k)]


def main():
    args = sys.argv[1:]
    rate = 1000.0
    if "--rate-mbit" in args:
        i = args.index("--rate-mbit"); rate = float(args[i + 1]); del args[i:i + 2]
    first, last = 1, 10**9
    if "--lines" in args:
        i = args.index("--lines"); first, last = map(int, args[i + 1].split("-")); del args[i:i + 2]
    lines = [l for f in args for l in open(f) if l.strip().startswith("{")]
    runs = [json.loads(l) for l in lines[first - 1:last]]
    tau = 8 / (rate * 1e6) * 1e3  # ms per byte
    a = [features(r["topology"], r["workers"], r["hidden"], tau) for r in runs]
    y = [r["step_ms_median"] for r in runs]
    x = solve(a, y)
    names = ["W_256 (ms/shard)", "W_1024 (ms/shard)", "sigma", "h_s (ms/worker)", "lam", "h_t (ms/hop)"]
    print("fitted:", ", ".join(f"{n} = {v:.4g}" for n, v in zip(names, x)))
    print("\n| plane | hidden | N | measured ms | model ms |\n| --- | ---: | ---: | ---: | ---: |")
    for r, row, t in sorted(zip(runs, a, y), key=lambda z: (z[0]["hidden"], z[0]["topology"], z[0]["workers"])):
        print(f"| {r['topology']} | {r['hidden']} | {r['workers']} | {t:.0f} | {sum(c * v for c, v in zip(row, x)):.1f} |")
    w = {256: x[0], 1024: x[1]}
    print("\n| hidden | GbE | N | star ms | star eff. | tree ms | tree eff. |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for hidden in (256, 1024):
        for gbe in (10, 25, 100):
            t = 8 / (gbe * 1e9) * 1e3
            for n in (16, 32, 64, 128, 256):
                comp = S * w[hidden]
                p = P[hidden]
                star = comp + x[2] * 2 * n * p * t + x[3] * n
                lg = math.log2(n)
                tree = comp + x[4] * 2 * (1 + lg) * p * t + x[5] * (2 + 2 * lg)
                print(f"| {hidden} | {gbe} | {n} | {star:.1f} | {comp / star:.0%} | {tree:.1f} | {comp / tree:.0%} |")


if __name__ == "__main__":
    main()
