using System.Text;
using DistRnn.Security;

namespace DistRnn.Tests.Security;

public class SecretFileTests
{
    private static string Write(string dir, string name, byte[] bytes, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, mode);
        return path;
    }

    private static RegistrationContext Ctx => new(1, "r", "sha", "fp", "addr");

    [Fact]
    public void Trailing_newlines_do_not_change_the_key()
    {
        var dir = TestUtil.TempDir();
        var a = SharedSecret.Load(Write(dir, "a", Encoding.ASCII.GetBytes("0123456789abcdef0123456789abcdef")));
        var b = SharedSecret.Load(Write(dir, "b", Encoding.ASCII.GetBytes("0123456789abcdef0123456789abcdef\r\n")));
        var c = SharedSecret.Load(Write(dir, "c", Encoding.ASCII.GetBytes("0123456789abcdef0123456789abcdeg\n")));
        Assert.Null(a.Warning);
        var nonce = ChallengeResponse.NewNonce();
        var proof = ChallengeResponse.Prove(a, ProofRole.Worker, nonce, Ctx);
        Assert.True(ChallengeResponse.Verify(b, ProofRole.Worker, nonce, Ctx, proof));
        Assert.False(ChallengeResponse.Verify(c, ProofRole.Worker, nonce, Ctx, proof));
    }

    [Fact]
    public void Missing_empty_folder_and_oversized_files_are_bad_input_naming_the_file()
    {
        var dir = TestUtil.TempDir();
        var missing = Path.Combine(dir, "nope");
        Assert.Contains($"--secret-file {missing}: file not found", Assert.Throws<InputException>(() => SharedSecret.Load(missing)).Message);
        var empty = Write(dir, "empty", Encoding.ASCII.GetBytes(" \n\n"));
        Assert.Contains($"--secret-file {empty}: is empty", Assert.Throws<InputException>(() => SharedSecret.Load(empty)).Message);
        Assert.Contains("is a folder", Assert.Throws<InputException>(() => SharedSecret.Load(dir)).Message);
        var big = Write(dir, "big", new byte[SharedSecret.MaxBytes + 1]);
        Assert.Contains("larger than", Assert.Throws<InputException>(() => SharedSecret.Load(big)).Message);
    }

    [Fact]
    public void Unreadable_file_is_bad_input()
    {
        if (OperatingSystem.IsWindows() || Environment.UserName == "root") return; // root reads anything: nothing to test
        var dir = TestUtil.TempDir();
        var path = Write(dir, "locked", Encoding.ASCII.GetBytes("0123456789abcdef0123"), UnixFileMode.None);
        Assert.Contains("cannot be read", Assert.Throws<InputException>(() => SharedSecret.Load(path)).Message);
    }

    [Fact]
    public void Short_or_world_readable_secrets_earn_a_warning()
    {
        var dir = TestUtil.TempDir();
        Assert.Contains("only 5 bytes", SharedSecret.Load(Write(dir, "short", Encoding.ASCII.GetBytes("hello"))).Warning);
        if (!OperatingSystem.IsWindows())
        {
            var open = Write(dir, "open", Encoding.ASCII.GetBytes("0123456789abcdef0123456789abcdef"),
                UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            Assert.Contains("readable by other users", SharedSecret.Load(open).Warning);
        }
    }
}
