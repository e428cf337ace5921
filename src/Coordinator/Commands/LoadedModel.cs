using System.Numerics;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Coordinator.Commands;

/// <summary>A checkpoint opened for inference: the --checkpoint option and its resolution (file, or a folder's newest valid one).</summary>
internal static class LoadedModel
{
    public static readonly System.CommandLine.Option<string> CheckpointOption =
        Options.Required("--checkpoint", "A checkpoint file, or a folder meaning its newest valid checkpoint");

    /// <summary>The checkpoint at PATH, its model shape checked as any shape from input is.</summary>
    public static Checkpoint Open(string path)
    {
        InputFile.CheckSyntax(path, CheckpointOption.Name);
        var ck = CheckpointStore.Resolve(path, CheckpointOption.Name, m => Console.Error.WriteLine(m));
        ck.Shape.Validate($"{CheckpointOption.Name} {ck.Path}");
        return ck;
    }

    /// <summary>Runs <paramref name="body"/> with the checkpoint's parameters in its own precision.</summary>
    public static TResult With<TResult>(Checkpoint ck, IModelFunc<TResult> body) =>
        ck.Header.Config.PrecisionKind == Precision.Float32 ? body.Invoke(ck.Params<float>(), ck) : body.Invoke(ck.Params<double>(), ck);
}

internal interface IModelFunc<out TResult>
{
    TResult Invoke<T>(Tensors<T> p, Checkpoint ck) where T : unmanaged, IFloatingPointIeee754<T>;
}
