using System.Text;

namespace DistRnn.Util;

/// <summary>
/// stdout and stderr in UTF-8 whatever the locale: .NET takes the console's encoding from LANG/LC_ALL, so under
/// a Latin-1 locale every character beyond it would print as '?'. Called first by each program's entry point.
/// </summary>
public static class Utf8Console
{
    public static void Use() => Console.OutputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
}
