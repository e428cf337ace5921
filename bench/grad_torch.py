#!/usr/bin/env python3
"""Reference gradients for `distrnn grad`'s layered MODEL.json (docs/cells.md), computed independently with PyTorch's
own nn.RNN / nn.LSTM / nn.GRU and autograd in float64. Writes one JSON file of cases: each a MODEL.json (the layered
format), a text, and the loss (sum over the text's predicted characters) and gradients in grad's output names.
The committed output is test data (tests/DistRnn.Tests/Model/TestData/cells_torch_grads.json); CI never needs torch.
Usage: /usr/bin/python3 bench/grad_torch.py OUT.json"""
import json, sys
import torch, torch.nn as nn, torch.nn.functional as F

torch.set_default_dtype(torch.float64)
SYMBOLS = "abcdefgh"


def rows(t):
    return [[float(v) for v in r] for r in t.tolist()]


def vec(t):
    return [float(v) for v in t.tolist()]


def case(cell, layers, k, d, T, seed):
    g = torch.Generator().manual_seed(seed)
    U = lambda *shape: (torch.rand(*shape, generator=g) * 2 - 1) * 0.9
    kind = {"rnn": lambda: nn.RNN(k, d, num_layers=layers, nonlinearity="tanh"),
            "lstm": lambda: nn.LSTM(k, d, num_layers=layers),
            "gru": lambda: nn.GRU(k, d, num_layers=layers)}[cell]
    net = kind()
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    model_layers = []
    with torch.no_grad():
        for l in range(layers):
            n_in = k if l == 0 else d
            Wx, Wh, b1, b2 = U(n_in, G * d), U(d, G * d), U(G * d), U(G * d)
            getattr(net, f"weight_ih_l{l}").copy_(Wx.T)
            getattr(net, f"weight_hh_l{l}").copy_(Wh.T)
            if cell == "gru":  # PyTorch's two biases are the model's bx and bh
                getattr(net, f"bias_ih_l{l}").copy_(b1)
                getattr(net, f"bias_hh_l{l}").copy_(b2)
                model_layers.append({"Wx": rows(Wx), "Wh": rows(Wh), "bx": vec(b1), "bh": vec(b2)})
            else:  # one bias per gate: PyTorch's bias_ih holds it, bias_hh is 0
                getattr(net, f"bias_ih_l{l}").copy_(b1)
                getattr(net, f"bias_hh_l{l}").zero_()
                names = ("U", "W", "b") if cell == "rnn" else ("Wx", "Wh", "b")
                model_layers.append(dict(zip(names, (rows(Wx), rows(Wh), vec(b1)))))
        V, c = U(d, k), U(k)
    V.requires_grad_(True); c.requires_grad_(True)
    tokens = torch.randint(0, k, (T + 1,), generator=g)
    x = F.one_hot(tokens[:-1], k).double().unsqueeze(1)  # T×1×k
    h, _ = net(x)
    z = h.squeeze(1) @ V + c
    loss = F.cross_entropy(z, tokens[1:], reduction="sum")
    loss.backward()
    out_layers = []
    for l in range(layers):
        gx, gh = getattr(net, f"weight_ih_l{l}").grad.T, getattr(net, f"weight_hh_l{l}").grad.T
        bi, bh = getattr(net, f"bias_ih_l{l}").grad, getattr(net, f"bias_hh_l{l}").grad
        if cell == "gru":
            out_layers.append({"dWx": rows(gx), "dWh": rows(gh), "dbx": vec(bi), "dbh": vec(bh)})
        else:  # the model's one bias is both of PyTorch's: its gradient is either one's (they are equal)
            names = ("dU", "dW", "db") if cell == "rnn" else ("dWx", "dWh", "db")
            out_layers.append(dict(zip(names, (rows(gx), rows(gh), vec(bi)))))
    model = {"vocab": list(SYMBOLS[:k]), "cell": cell, "hidden": d, "layers": model_layers, "V": rows(V.detach()), "c": vec(c.detach())}
    if cell == "rnn":
        model["activation"] = "tanh"
    text = "".join(SYMBOLS[i] for i in tokens.tolist())
    return {"name": f"{cell} L={layers} k={k} d={d} T={T}", "model": model, "text": text,
            "expected": {"loss": float(loss), "layers": out_layers, "dV": rows(V.grad), "dc": vec(c.grad)}}


cases = []
seed = 1
for cell in ("rnn", "lstm", "gru"):
    for layers in (1, 2, 3):
        for (k, d, T) in ((5, 3, 7), (4, 4, 30), (6, 2, 1)):
            cases.append(case(cell, layers, k, d, T, seed))
            seed += 1
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump({"generator": "bench/grad_torch.py", "torch": torch.__version__, "cases": cases}, f)
    f.write("\n")
print(f"{len(cases)} cases -> {sys.argv[1]}")
