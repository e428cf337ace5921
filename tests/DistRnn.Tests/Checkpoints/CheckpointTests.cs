using DistRnn.Configuration;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Training;
using DistRnn.Reduction;

namespace DistRnn.Tests.Checkpoints;

public class CheckpointTests
{
    /// <summary>A small session one step in (optimiser state non-zero), shared by the checkpoint tests.</summary>
    internal static TrainingSession<float> Session()
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText(5));
        var s = new TrainingSession<float>(new TrainConfig { Hidden = 6, Seq = 8, Batch = 2 }, corpus);
        var g = new DistRnn.Model.Tensors<float>(s.Params.Shape);
        for (int i = 0; i < g.Data.Length; i++) g.Data[i] = (i % 7) - 3;
        s.Apply(new ShardSum<float>(g, 10, 16));
        return s;
    }

    [Fact]
    public void Round_trip_keeps_parameters_optimiser_state_and_header()
    {
        var s = Session();
        var dir = TestUtil.TempDir();
        var path = CheckpointStore.PathFor(dir, s.Step);
        Checkpoint.Save(s, path, 1.5, 2.5);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        var ck = Checkpoint.Load(path);
        Assert.Equal(1, ck.Header.Step);
        Assert.Equal(s.ParamsSha256(), ck.Header.ParamsSha256);
        Assert.Equal(s.Config, ck.Header.Config);
        Assert.Equal(s.Corpus.Vocabulary.Symbols, ck.Header.Vocab);
        var restored = ck.ToSession<float>(s.Corpus, ck.Header.Config);
        Assert.Equal(s.Params.Data, restored.Params.Data);
        Assert.Equal(s.Optimizer.StateArrays[0], restored.Optimizer.StateArrays[0]);
        Assert.Equal(s.Optimizer.StateArrays[1], restored.Optimizer.StateArrays[1]);
        Assert.Equal(s.Optimizer.StateScalars, restored.Optimizer.StateScalars);
        Assert.Equal(2.5, ck.Header.ValLoss);
    }

    [Theory]
    [InlineData("flip")]
    [InlineData("truncate")]
    [InlineData("empty")]
    [InlineData("garbage")]
    public void A_damaged_file_is_refused_naming_it(string damage)
    {
        var s = Session();
        var dir = TestUtil.TempDir();
        var path = CheckpointStore.PathFor(dir, 1);
        Checkpoint.Save(s, path, null, null);
        var bytes = File.ReadAllBytes(path);
        bytes = damage switch
        {
            "flip" => Flip(bytes, bytes.Length / 2),
            "truncate" => bytes[..(bytes.Length - 100)],
            "empty" => [],
            _ => "hello, world, this is not a checkpoint at all......"u8.ToArray(),
        };
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InputException>(() => Checkpoint.Load(path));
        Assert.Contains(path, e.Message);
    }

    private static byte[] Flip(byte[] b, int i) { b[i] ^= 0x10; return b; }

    [Fact]
    public void A_folder_resolves_to_its_newest_valid_checkpoint_skipping_damaged_ones_with_a_warning()
    {
        var s = Session();
        var dir = TestUtil.TempDir();
        Checkpoint.Save(s, CheckpointStore.PathFor(dir, 10), null, null);
        Checkpoint.Save(s, CheckpointStore.PathFor(dir, 20), null, null);
        var newest = CheckpointStore.PathFor(dir, 30);
        File.WriteAllBytes(newest, File.ReadAllBytes(CheckpointStore.PathFor(dir, 20))[..50]);
        var warnings = new List<string>();
        var ck = CheckpointStore.Resolve(dir, "--resume", warnings.Add);
        Assert.Equal(CheckpointStore.PathFor(dir, 20), ck.Path);
        Assert.Single(warnings);
        Assert.Contains("ckpt-00000030.bin", warnings[0]);

        var empty = TestUtil.TempDir();
        Assert.Throws<InputException>(() => CheckpointStore.Resolve(empty, "--resume", _ => { }));
        Assert.Throws<InputException>(() => CheckpointStore.Resolve(Path.Combine(empty, "missing"), "--resume", _ => { }));
    }

    [Fact]
    public void Prune_keeps_the_newest()
    {
        var s = Session();
        var dir = TestUtil.TempDir();
        foreach (var step in new[] { 1, 2, 3, 4 }) Checkpoint.Save(s, CheckpointStore.PathFor(dir, step), null, null);
        CheckpointStore.Prune(dir, 2);
        Assert.Equal([4L, 3L], CheckpointStore.List(dir).Select(x => x.Step));
    }

    [Fact]
    public void A_checkpoint_refuses_another_corpus()
    {
        var s = Session();
        var path = CheckpointStore.PathFor(TestUtil.TempDir(), 1);
        Checkpoint.Save(s, path, null, null);
        var other = TestUtil.CorpusOf(TestUtil.SmallText(6));
        Assert.Throws<InputException>(() => Checkpoint.Load(path).ToSession<float>(other, s.Config));
    }
}
