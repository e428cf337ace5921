#!/usr/bin/env python3
"""Quality peer: the same Elman RNN trained with PyTorch on the same budget as
`distrnn train --workers 0 --hidden H --seq T --batch B --steps N --optimizer adam --lr LR --clip C`:
random windows of the first (1 - val_frac) of the text, mean per-character loss, Adam, global-norm clip;
then the validation loss over consecutive windows of the last val_frac, each from s_0 = 0 (as `distrnn eval`).
With --state carry (as `distrnn train --state carry`): truncated BPTT, the batch is B streams of consecutive windows
(stream j starts at window (r + floor(j W / B)) mod W of the W = floor((len(train) - 1) / T) whole windows, r random;
step s takes each stream's next window), the hidden state carried from window to window (detached: no gradient
through the boundary) and reset to 0 when a stream wraps to the start of the text. Either way the validation loss is
also reported with the state carried across the validation windows (val_loss_carry, as `distrnn eval --state carry`).
Gated and stacked models (docs/cells.md): --cell lstm|gru --layers L --dropout p, as `train`'s (PyTorch's nn.LSTM /
nn.GRU, whose dropout sits between layers; DistRnn's also before the output layer, so this script adds an
nn.Dropout there too). Prints one JSON line. Usage: quality_torch.py CORPUS [--hidden 256 --seq 64 --batch 32 --steps 3000 --state carry --cell lstm ...]"""
import argparse, json, math, time
import torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("corpus"); p.add_argument("--hidden", type=int, default=256); p.add_argument("--seq", type=int, default=64)
p.add_argument("--batch", type=int, default=32); p.add_argument("--steps", type=int, default=3000)
p.add_argument("--lr", type=float, default=2e-3); p.add_argument("--clip", type=float, default=5.0)
p.add_argument("--val-frac", type=float, default=0.1); p.add_argument("--seed", type=int, default=1)
p.add_argument("--threads", type=int, default=1); p.add_argument("--state", choices=["reset", "carry"], default="reset")
p.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="rnn"); p.add_argument("--layers", type=int, default=1)
p.add_argument("--dropout", type=float, default=0.0)
p.add_argument("--single-bias", action="store_true",
               help="one bias per gate, as DistRnn's b: bias_hh held at 0 (PyTorch's bias_ih + bias_hh is one bias with twice"
                    " the initial variance and, under Adam, twice the step)")
a = p.parse_args()
if a.single_bias and a.cell == "gru": p.error("--single-bias: gru has bx and bh in DistRnn too (bh sits inside r * (h Wh + bh))")
torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
text = open(a.corpus, encoding="utf-8-sig").read()
vocab = sorted(set(text)); idx = {c: i for i, c in enumerate(vocab)}; k = len(vocab)
data = torch.tensor([idx[c] for c in text], dtype=torch.long)
split = int(math.floor(len(data) * (1 - a.val_frac))); train, val = data[:split], data[split:]
inter = a.dropout if a.layers > 1 else 0.0
rnn = {"rnn": lambda: nn.RNN(k, a.hidden, num_layers=a.layers, nonlinearity="tanh", batch_first=True, dropout=inter),
       "lstm": lambda: nn.LSTM(k, a.hidden, num_layers=a.layers, batch_first=True, dropout=inter),
       "gru": lambda: nn.GRU(k, a.hidden, num_layers=a.layers, batch_first=True, dropout=inter)}[a.cell]()
top = nn.Dropout(a.dropout); out = nn.Linear(a.hidden, k)
if a.single_bias:
    for name, t in rnn.named_parameters():
        if name.startswith("bias_hh"): nn.init.zeros_(t); t.requires_grad_(False)
params = [t for t in rnn.parameters() if t.requires_grad] + list(out.parameters())
opt = torch.optim.Adam(params, lr=a.lr)
g = torch.Generator().manual_seed(a.seed)
t0 = time.time()
W = (len(train) - 1) // a.seq
r = int(torch.randint(0, W, (1,), generator=g))
offsets = [(r + j * W // a.batch) % W for j in range(a.batch)]
state = None   # the carried state: h (rnn, gru) or (h, c) (lstm), each layers x batch x hidden
def carried(state, fresh):
    """The state each stream starts its window from: the last window's, detached, or 0 where the stream is fresh."""
    if state is None: return None
    pick = lambda t: torch.where(fresh, torch.zeros_like(t), t.detach())
    return tuple(pick(t) for t in state) if isinstance(state, tuple) else pick(state)
for step in range(a.steps):
    if a.state == "carry":
        windows = [(o + step) % W for o in offsets]
        starts = [w * a.seq for w in windows]
        fresh = torch.tensor([step == 0 or w == 0 for w in windows]).view(1, -1, 1)
        h0 = carried(state, fresh)
    else:
        starts = torch.randint(0, len(train) - a.seq, (a.batch,), generator=g); h0 = None
    x = torch.stack([train[s:s + a.seq] for s in starts]); y = torch.stack([train[s + 1:s + a.seq + 1] for s in starts])
    s, state = rnn(F.one_hot(x, k).float(), h0)
    loss = F.cross_entropy(out(top(s)).reshape(-1, k), y.reshape(-1))
    opt.zero_grad(); loss.backward()
    if a.clip > 0: torch.nn.utils.clip_grad_norm_(params, a.clip)
    opt.step()
train_seconds = time.time() - t0
rnn.eval(); top.eval()
def validation(carry):
    with torch.no_grad():
        total, chars, hv = 0.0, 0, None
        for start in range(0, len(val) - 1, a.seq):
            n = min(a.seq, len(val) - 1 - start)
            x = val[start:start + n].unsqueeze(0); y = val[start + 1:start + n + 1]
            s, hn = rnn(F.one_hot(x, k).float(), hv)
            if carry: hv = hn
            total += F.cross_entropy(out(s)[0], y, reduction="sum").item(); chars += n
        return total / chars
result = {"peer": "pytorch", "corpus": a.corpus, "cell": a.cell, "layers": a.layers, "dropout": a.dropout, "hidden": a.hidden,
          "steps": a.steps, "state": a.state, "single_bias": a.single_bias, "val_loss": validation(False), "val_loss_carry": validation(True)}
result.update({"train_loss_last": loss.item(), "seconds": train_seconds, "torch": torch.__version__})
print(json.dumps(result))
