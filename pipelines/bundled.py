"""Scripts and the "English" pipeline for the bundled CLAM services, so a fresh install needs no admin work.

The rows come from fixtures/clam.json (`manage.py loaddata clam`); this
module adds what a fixture cannot hold: this install's ports and the
generated password, then imports the services' parameters.
"""

from django.core.management import call_command

from clamservices.credentials import service_credentials
from scripts.importer import import_script
from scripts.models import Pipeline, Script

FA_NAME = "Bundled forced alignment (English)"
G2P_NAME = "Bundled G2P (English, Dutch)"
PIPELINE_NAME = "English"


def _script(name, url):
    """The bundled Script, pointed at this install's service with this install's credentials."""
    user, password = service_credentials()
    script = Script.objects.get(name=name)
    current = script.get_password() if script.password_readable else None
    if (script.url, script.username, current) != (url, user, password):
        script.url, script.username = url, user
        script.set_password(password)
        script.save()
    return script


def setup(fa_url, g2p_url):
    """Load the `clam` fixture when the English pipeline is missing, give the bundled Scripts this
    install's address and credentials, and import them. Returns a list of problems (empty when all is well).
    """
    if not Pipeline.objects.filter(name=PIPELINE_NAME).exists():
        # Natural keys: this updates or adds the bundled rows by name, never rows of other Scripts.
        call_command("loaddata", "clam", verbosity=0)
    fa = _script(FA_NAME, fa_url)
    g2p = _script(G2P_NAME, g2p_url)
    return [f"{s.name}: {error}" for s in (fa, g2p) if (error := import_script(s))]
