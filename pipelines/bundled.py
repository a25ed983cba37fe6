"""Scripts and the "English" pipeline for the bundled CLAM services, so a fresh install needs no admin work."""

from clamservices.arpabet import ARPABET_PHONES
from clamservices.credentials import service_credentials
from pipelines.models import Pipeline
from scripts.importer import import_script
from scripts.models import InputTemplate, OutputTemplate, Script

FA_NAME = "Bundled forced alignment (English)"
G2P_NAME = "Bundled G2P (English, Dutch)"
PIPELINE_NAME = "English"


def _script(name, url, description):
    user, password = service_credentials()
    script, created = Script.objects.get_or_create(name=name, defaults={"url": url, "description": description})
    if created or not script.password_readable or script.username != user or script.url != url:
        script.url, script.username = url, user
        script.set_password(password)
        script.save()
    return script


def setup(fa_url, g2p_url):
    """Create or update the bundled Scripts, import them, and make sure the English pipeline exists.

    Returns a list of problems (empty when all is well).
    """
    fa = _script(FA_NAME, fa_url, "PocketSphinx aligner bundled with Equestria (clamservices/).")
    g2p = _script(G2P_NAME, g2p_url, "gruut G2P bundled with Equestria (clamservices/).")
    problems = [f"{s.name}: {error}" for s in (fa, g2p) if (error := import_script(s))]
    if problems or Pipeline.objects.filter(name=PIPELINE_NAME).exists():
        return problems

    def template(model, script, template_id):
        return model.objects.get(profile__script=script, template_id=template_id)

    pipeline = Pipeline(
        name=PIPELINE_NAME,
        language="en-us",
        description="English speech: PocketSphinx forced alignment; gruut proposes pronunciations for unknown words.",
        fa_script=fa,
        g2p_script=g2p,
        oov_output=template(OutputTemplate, fa, "oov"),
        g2p_input=template(InputTemplate, g2p, "wordlist"),
        dictionary_output=template(OutputTemplate, g2p, "dictionary"),
        fa_dictionary_input=template(InputTemplate, fa, "dictionary"),
        phone_set=" ".join(sorted(ARPABET_PHONES)),
    )
    pipeline.full_clean()
    pipeline.save()
    return []
