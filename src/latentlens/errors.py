"""The one exception type the CLI turns into a one-line message and a non-zero exit code."""


class LatentLensError(Exception):
    """A problem with the user's input (data, checkpoint, option, output folder), not a bug.

    The CLI prints ``latentlens: error: <message>`` and exits with status 2, without a traceback. The message
    is one line whatever it quotes: line breaks in it (from a file name, a config key or a value the user
    supplied) are shown escaped, as ``\\n``.
    """

    def __str__(self) -> str:
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")
