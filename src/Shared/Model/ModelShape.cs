namespace DistRnn.Model;

/// <summary>
/// Sizes of the model and where each tensor lives in the one flat parameter vector (docs/cells.md).
/// Layout (row-major, the order of params_sha256): every layer's input weight then recurrent weight
/// (Wx_1, Wh_1, Wx_2, Wh_2, …), V (d×k), every layer's bias (b_1, b_2, … ; gru: bx_1, bh_1, bx_2, bh_2, …), c (k).
/// Wx_l is n_l×G·d with n_1 = k (the one-hot input) and n_l = d above; Wh_l is d×G·d; a bias is G·d; G is the
/// cell's gate count. For a 1-layer rnn that is today's U (k×d), W (d×d), V (d×k), b (d), c (k).
/// </summary>
public sealed record ModelShape(int VocabSize, int Hidden, Cell Cell = Cell.Rnn, int Layers = 1)
{
    public int K => VocabSize;
    public int D => Hidden;
    /// <summary>G·d: the columns of a layer's weights and the length of its bias.</summary>
    public int GateWidth => Cell.Gates() * D;

    /// <summary>Values of one sequence's recurrent state: h of every layer (and c of every layer for lstm).</summary>
    public int StateSize => Layers * Cell.StatePerLayer() * D;

    /// <summary>n_l, the input width of layer <paramref name="layer"/> (0-based): k for the first, d above.</summary>
    public int LayerInput(int layer) => layer == 0 ? K : D;

    /// <summary>Offset of Wx (rnn: U) of <paramref name="layer"/>.</summary>
    public int InWeightOffset(int layer) => layer == 0 ? 0 : K * GateWidth + D * GateWidth + (layer - 1) * 2 * D * GateWidth;
    /// <summary>Offset of Wh (rnn: W) of <paramref name="layer"/>.</summary>
    public int RecWeightOffset(int layer) => InWeightOffset(layer) + LayerInput(layer) * GateWidth;
    /// <summary>Offset of b (gru: bx) of <paramref name="layer"/>.</summary>
    public int BiasOffset(int layer) => VOffset + D * K + layer * Cell.Biases() * GateWidth;
    /// <summary>Offset of gru's bh of <paramref name="layer"/>.</summary>
    public int BiasHOffset(int layer) => BiasOffset(layer) + GateWidth;

    public int UOffset => InWeightOffset(0);
    public int WOffset => RecWeightOffset(0);
    public int VOffset => InWeightOffset(Layers);
    public int BOffset => BiasOffset(0);
    public int COffset => BiasOffset(Layers);
    public int Count => COffset + K;

    /// <summary>
    /// The most parameters a model may have: 2^27 values (1 GiB in float64), so the parameters, their gradient
    /// and the optimiser's moments of the largest model still fit a machine's memory; train's --hidden 8192 limit
    /// stays inside it for vocabularies up to ~4,000 characters.
    /// </summary>
    public const long MaxCount = 1L << 27;

    /// <summary>The most layers a model may have.</summary>
    public const int MaxLayers = 64;

    /// <summary>
    /// Why these sizes cannot be a model (null when they can), computed in checked 64-bit arithmetic before
    /// anything is allocated: a forged size must neither overflow the offsets nor ask for gigabytes.
    /// </summary>
    public string? Problem()
    {
        if (VocabSize < 2) return $"vocabulary size must be at least 2, got {VocabSize}";
        if (Hidden < 1) return $"hidden size must be positive, got {Hidden}";
        if (!Enum.IsDefined(Cell)) return $"unknown cell {(int)Cell}";
        if (Layers < 1 || Layers > MaxLayers) return $"layers must be between 1 and {MaxLayers}, got {Layers}";
        long k = K, d = D, g = Cell.Gates(), l = Layers;
        long count = checked(k * g * d + d * g * d + (l - 1) * 2 * d * g * d + d * k + l * Cell.Biases() * g * d + k);
        if (count > MaxCount)
            return Layers == 1 && Cell == Cell.Rnn
                ? $"model too large: hidden {Hidden} with vocabulary {VocabSize} has {count} parameters, more than {MaxCount}"
                : $"model too large: {Cell.Name()} with {Layers} layers of hidden {Hidden} and vocabulary {VocabSize} has {count} parameters, more than {MaxCount}";
        return null;
    }

    /// <summary>Throws <see cref="InputException"/> "<paramref name="what"/>: problem" when <see cref="Problem"/> finds one.</summary>
    public void Validate(string what)
    {
        if (Problem() is string problem) throw new InputException($"{what}: {problem}");
    }

    /// <summary>
    /// The tensor and position of flat index <paramref name="i"/>, e.g. "layers[1].Wh[3,17]" or "V[2,0]" (layers
    /// 0-based, the names of docs/cells.md's MODEL.json).
    /// </summary>
    public string NameOf(int i)
    {
        string[] names = Cell switch { Cell.Lstm => ["Wx", "Wh", "b", ""], Cell.Gru => ["Wx", "Wh", "bx", "bh"], _ => ["U", "W", "b", ""] };
        string At(string name, int j, int cols) => cols > 0 ? $"{name}[{j / cols},{j % cols}]" : $"{name}[{j}]";
        if (i >= COffset) return At("c", i - COffset, 0);
        if (i >= VOffset && i < BOffset) return At("V", i - VOffset, K);
        for (int l = Layers - 1; l >= 0; l--)
        {
            if (i >= BOffset)
            {
                if (i < BiasOffset(l)) continue;
                return Cell == Cell.Gru && i >= BiasHOffset(l) ? At($"layers[{l}].{names[3]}", i - BiasHOffset(l), 0) : At($"layers[{l}].{names[2]}", i - BiasOffset(l), 0);
            }
            if (i < InWeightOffset(l)) continue;
            return i >= RecWeightOffset(l) ? At($"layers[{l}].{names[1]}", i - RecWeightOffset(l), GateWidth) : At($"layers[{l}].{names[0]}", i - InWeightOffset(l), GateWidth);
        }
        throw new ArgumentOutOfRangeException(nameof(i));
    }

    /// <summary>Today's model: one layer of the lecture's cell, U, W, V, b, c.</summary>
    public bool IsElman => Cell == Cell.Rnn && Layers == 1;
}
