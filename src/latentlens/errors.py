"""The one exception type the CLI turns into a one-line message and a non-zero exit code."""


class LatentLensError(Exception):
    """A problem with the user's input (data, checkpoint, option, output folder), not a bug.

    The CLI prints ``latentlens: error: <message>`` and exits with status 2, without a traceback.
    """
