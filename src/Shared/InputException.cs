namespace DistRnn;

/// <summary>Bad input from the user (file, option, checkpoint): the CLI prints the message on one line and exits 2.</summary>
public sealed class InputException(string message) : Exception(message);
