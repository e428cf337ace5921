using DistRnn.Configuration;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Training;
using DistRnn.Reduction;

namespace DistRnn.Tests.Checkpoints;

/// <summary>Issue 12 C: stray files and well-formed but senseless checkpoints never end a run or a resume.</summary>
public class CheckpointDurabilityTests
{
    private static TrainingSession<float> Session() => CheckpointTests.Session();

    private static byte[] Encoded(TrainingSession<float> s, Func<CheckpointHeader, CheckpointHeader> edit)
    {
        var tensors = new List<float[]> { s.Params.Data };
        tensors.AddRange(s.Optimizer.StateArrays);
        return Checkpoint.Encode(edit(Checkpoint.HeaderOf(s, 1.0, 2.0)), tensors);
    }

    [Fact]
    public void Stray_names_with_non_ascii_digits_or_too_many_digits_are_not_checkpoints_and_do_not_stop_pruning()
    {
        var s = Session();
        var dir = TestUtil.TempDir();
        foreach (var step in new[] { 1, 2, 3 }) Checkpoint.Save(s, CheckpointStore.PathFor(dir, step), null, null);
        string[] strays = ["ckpt-99999999999999999999.bin", "ckpt-\u0661\u0662.bin", "ckpt-\uFF17.bin", "ckpt-12x.bin"];
        foreach (var name in strays) File.WriteAllText(Path.Combine(dir, name), "not mine");

        Assert.Equal([3L, 2, 1], CheckpointStore.List(dir).Select(x => x.Step));
        CheckpointStore.Prune(dir, 1);
        Assert.Equal([3L], CheckpointStore.List(dir).Select(x => x.Step));
        foreach (var name in strays) Assert.True(File.Exists(Path.Combine(dir, name)), name);
        Assert.Equal(CheckpointStore.PathFor(dir, 3), CheckpointStore.Resolve(dir, "--resume", _ => { }).Path);
    }

    public static TheoryData<string> Senseless => new() { "config", "vocab", "vocab-empty", "corpus-sha", "params-sha", "step", "scalars", "hidden" };

    private static CheckpointHeader Break(CheckpointHeader h, string what) => what switch
    {
        "config" => h with { Config = null! },
        "vocab" => h with { Vocab = null! },
        "vocab-empty" => h with { Vocab = [] },
        "corpus-sha" => h with { CorpusSha256 = null! },
        "params-sha" => h with { ParamsSha256 = null! },
        "step" => h with { Step = -1 },
        "scalars" => h with { OptimizerScalars = null! },
        _ => h with { Config = h.Config with { Hidden = 0 } },
    };

    [Theory]
    [MemberData(nameof(Senseless))]
    public void A_checkpoint_with_a_valid_checksum_but_a_senseless_header_is_an_input_error_naming_it_and_resume_skips_it(string what)
    {
        var s = Session();
        var dir = TestUtil.TempDir();
        var older = CheckpointStore.PathFor(dir, 1);
        Checkpoint.Save(s, older, null, null);
        var bad = CheckpointStore.PathFor(dir, 2);
        File.WriteAllBytes(bad, Encoded(s, h => Break(h, what)));

        var e = Assert.Throws<InputException>(() => Checkpoint.Load(bad));
        Assert.Contains(bad, e.Message);
        var warnings = new List<string>();
        Assert.Equal(older, CheckpointStore.Resolve(dir, "--resume", warnings.Add).Path);
        Assert.Contains("ckpt-00000002.bin", Assert.Single(warnings));
    }

    [Fact]
    public void The_run_settings_round_trip_and_a_checkpoint_from_before_them_still_loads()
    {
        var s = Session();
        var dir = TestUtil.TempDir();
        var run = new RunSettings { Workers = 3, MinWorkers = 2, Listen = "0.0.0.0:4100", CheckpointEvery = 7, SecretFile = "secret" };
        var path = CheckpointStore.PathFor(dir, 1);
        Checkpoint.Save(s, path, null, null, run);
        Assert.Equal(run with { SecretFile = Path.GetFullPath("secret") }, Checkpoint.Load(path).Header.Run);

        var old = CheckpointStore.PathFor(dir, 2);
        File.WriteAllBytes(old, Encoded(s, h => h with { Run = null }));
        Assert.Null(Checkpoint.Load(old).Header.Run);
        Assert.Equal(s.ParamsSha256(), Checkpoint.Load(old).Header.ParamsSha256);

        var insane = CheckpointStore.PathFor(dir, 3);
        File.WriteAllBytes(insane, Encoded(s, h => h with { Run = new RunSettings { CheckpointEvery = 0 } }));
        Assert.Contains("checkpoint-every", Assert.Throws<InputException>(() => Checkpoint.Load(insane)).Message);
    }

    [Fact]
    public void The_folder_of_a_written_file_is_flushed_to_disk()
    {
        var dir = TestUtil.TempDir();
        AtomicFile.WriteText(Path.Combine(dir, "x.txt"), "x");
        Assert.Equal(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), AtomicFile.SyncDirectory(dir));
        Assert.False(AtomicFile.SyncDirectory(Path.Combine(dir, "missing")));
    }
}
