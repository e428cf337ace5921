namespace DistRnn.Model;

/// <summary>
/// The recurrent cell of every layer (docs/cells.md): the lecture's Elman cell (default), PyTorch's nn.LSTM cell or
/// its nn.GRU cell.
/// </summary>
public enum Cell { Rnn, Lstm, Gru }

public static class CellExtensions
{
    public static string Name(this Cell c) => c switch { Cell.Lstm => "lstm", Cell.Gru => "gru", _ => "rnn" };

    public static bool TryParse(string? text, out Cell cell)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "rnn": cell = Cell.Rnn; return true;
            case "lstm": cell = Cell.Lstm; return true;
            case "gru": cell = Cell.Gru; return true;
            default: cell = Cell.Rnn; return false;
        }
    }

    /// <summary>G, the gate blocks of d columns in a layer's Wx, Wh and bias: rnn 1, lstm 4 (i, f, g, o), gru 3 (r, z, n).</summary>
    public static int Gates(this Cell c) => c switch { Cell.Lstm => 4, Cell.Gru => 3, _ => 1 };

    /// <summary>Bias vectors of G·d per layer: gru has two (bx, bh), the others one.</summary>
    public static int Biases(this Cell c) => c == Cell.Gru ? 2 : 1;

    /// <summary>Values of one sequence's carried state per layer, in units of d: lstm keeps h and c, the others h.</summary>
    public static int StatePerLayer(this Cell c) => c == Cell.Lstm ? 2 : 1;
}
