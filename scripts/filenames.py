"""The rules of a file name's parts, one for every layer: the upload's pairing of recordings and transcripts, the
names sent to a CLAM service (scripts.clamnames), which template a name is of, the results' names. Here, below
the apps that use them (upload, pipelines), as import-linter's layers want it.
"""


def split_name(name):
    """(stem, extension as written, without its dot) of `name`, split at the last dot: how a recording, its
    transcript and its result TextGrid find each other ("a.wav", "a.txt", "a.TextGrid"). A name without an
    extension is its own stem: ".wav" (a name that starts with a dot, as on Unix), "a.", "a..", "noext"."""
    stem, dot, extension = name.rpartition(".")
    return (stem, extension) if dot and stem and extension else (name, "")


def stem_of(name):
    """The name without its last extension (`split_name`)."""
    return split_name(name)[0]


def extension_of(name):
    """The last extension in lower case, without the dot; "" if none (`split_name`)."""
    return split_name(name)[1].lower()


def has_extension(name, extension):
    """Whether `name` ends with `extension` (without its dot; multi-part ones, "folia.xml", whole), in any case, with
    something before it: the rule of InputTemplate's and OutputTemplate's names."""
    name, extension = name.lower(), "." + extension.lower()
    return bool(extension[1:]) and name.endswith(extension) and len(name) > len(extension)
