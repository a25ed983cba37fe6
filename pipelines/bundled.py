"""Scripts and pipelines for the bundled CLAM services, so a fresh install needs no admin work.

"English" comes from fixtures/clam.json (`manage.py loaddata clam`); this module adds what a fixture
cannot hold: this install's ports and the generated password, then imports the services' parameters.

Every other language of EQUESTRIA_BUNDLED_LANGUAGES (default: Dutch) gets a pipeline of its own on the
same two services: a second pair of Scripts ("Bundled forced alignment (Dutch)", "Bundled G2P (Dutch)")
with the services' "language" parameter preset to it, so that a run sends it and the researcher's form
does not offer it, and the Pipeline's phone set is the language's phones (the review checks Dutch IPA).
Made here rather than in the fixture: the preset belongs to a parameter that exists only once the
Script is imported, and one path serves every language (clamservices/languages.py).
"""

from django.conf import settings
from django.core.management import call_command

from clamservices import languages
from clamservices.credentials import service_credentials
from scripts.importer import import_script
from scripts.models import InputTemplate, OutputTemplate, Pipeline, Script

FA_NAME = "Bundled forced alignment (English)"
# The bundled aligner's name on the server (clamservices/config/forced_alignment.py, SYSTEM_NAME), which its Scripts
# keep as Script.service_name whatever an administrator calls them.
FA_SERVICE_NAME = "Equestria forced alignment (English)"
# Its parameters that only a run in a mapped language uses (clamservices/fa_job.py): the phone tier of a language the
# acoustic model is of (English) is in the model's own phones, ARPAbet, whatever the phone alphabet says.
MAPPED_LANGUAGE_PARAMETERS = {"phone_alphabet"}
G2P_NAME = "Bundled G2P (English, Dutch)"
PIPELINE_NAME = "English"
LANGUAGE_PARAMETER = "language"


def _script(name, url, description=""):
    """The bundled Script, pointed at this install's service with this install's credentials (made if missing)."""
    user, password = service_credentials()
    script = Script.objects.filter(name=name).first() or Script(name=name, description=description)
    current = script.get_password() if script.pk and script.password_readable else None
    if (script.url, script.username, current) != (url, user, password):
        script.url, script.username = url, user
        script.set_password(password)
        script.save()
    return script


def _preset(script, clam_id, value):
    """Preset a Script's parameter to `value` (not when an administrator preset another value)."""
    parameter = script.parameters.filter(clam_id=clam_id, input_template=None).first()
    if parameter is None:
        return
    choice = parameter.specific
    if not choice.preset:
        choice.preset, choice.value = True, value
        choice.save(update_fields=["preset", "value"])


def _preset_language(script, code):
    _preset(script, LANGUAGE_PARAMETER, code)


def _language_pipeline(code, fa_url, g2p_url):
    """The pipeline of a mapped language on the bundled services; a list of problems."""
    language = languages.LANGUAGES[code]
    fa = _script(f"Bundled forced alignment ({language.label})", fa_url,
                 f"The bundled aligner in {language.label}, approximate: phones mapped to the English acoustic model.")
    g2p = _script(f"Bundled G2P ({language.label})", g2p_url, f"gruut's {language.label} G2P, bundled.")
    problems = [f"{s.name}: {error}" for s in (fa, g2p) if (error := import_script(s))]
    if problems:
        return problems
    _preset_language(fa, code)
    _preset_language(g2p, code)
    if not Pipeline.objects.filter(name=language.label).exists():
        Pipeline.objects.create(
            name=language.label, language=code, approximate=True,
            description=f"{language.label} speech, approximate: gruut's {language.label} pronunciations, their phones "
                        "mapped to the closest phones of PocketSphinx's English acoustic model; the TextGrids show "
                        f"the {language.label} phones (IPA).",
            fa_script=fa, g2p_script=g2p,
            oov_output=OutputTemplate.objects.get(profile__script=fa, profile__index=0, template_id="oov"),
            g2p_input=InputTemplate.objects.get(profile__script=g2p, profile__index=0, template_id="wordlist"),
            dictionary_output=OutputTemplate.objects.get(profile__script=g2p, profile__index=0, template_id="dictionary"),
            fa_dictionary_input=InputTemplate.objects.get(profile__script=fa, profile__index=0, template_id="dictionary"),
            phone_set=" ".join(sorted(languages.phones(code))),
        )
    return []


def parameters_in_effect(run):
    """The run's parameter values (`Run.parameters`, as it sent them) that had an effect on it, as its page and the
    API list them. The English Script presets the phone alphabet so that its form does not offer it (see `setup`),
    and "Phone alphabet = ipa" would then describe TextGrids whose phones are ARPAbet: a run of the bundled aligner in
    a language it aligns natively lists none of MAPPED_LANGUAGE_PARAMETERS."""
    values = run.parameters
    if not MAPPED_LANGUAGE_PARAMETERS & set(values) or run.pipeline.fa_script.service_name != FA_SERVICE_NAME:
        return values
    language = languages.LANGUAGES.get(values.get(LANGUAGE_PARAMETER) or "en-us")  # fa_job's default: English
    if language is None or not language.native:
        return values
    return {key: value for key, value in values.items() if key not in MAPPED_LANGUAGE_PARAMETERS}


def settings_problem():
    """What is wrong with EQUESTRIA_BUNDLED_LANGUAGES, or None."""
    unknown = [c for c in settings.EQUESTRIA_BUNDLED_LANGUAGES if c not in languages.LANGUAGES]
    if unknown:
        return (f"EQUESTRIA_BUNDLED_LANGUAGES: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a "
                f"language of the bundled services; choose from {', '.join(languages.LANGUAGES)}")
    return None


def setup(fa_url, g2p_url):
    """Load the `clam` fixture when the English pipeline is missing, give the bundled Scripts this
    install's address and credentials, import them, and make the pipelines of the other languages of
    EQUESTRIA_BUNDLED_LANGUAGES. Returns a list of problems (empty when all is well).
    """
    if problem := settings_problem():
        return [problem]
    if not Pipeline.objects.filter(name=PIPELINE_NAME).exists():
        # Natural keys: this updates or adds the bundled rows by name, never rows of other Scripts.
        call_command("loaddata", "clam", verbosity=0)
    fa = _script(FA_NAME, fa_url)
    g2p = _script(G2P_NAME, g2p_url)
    problems = [f"{s.name}: {error}" for s in (fa, g2p) if (error := import_script(s))]
    if problems:
        return problems
    # English is the language the bundled FA service aligns unless told otherwise: its Script says so,
    # and the researcher's form offers neither another language nor an alphabet for other languages' phones.
    _preset_language(fa, "en-us")
    _preset(fa, "phone_alphabet", "ipa")
    for code in settings.EQUESTRIA_BUNDLED_LANGUAGES:
        if not languages.LANGUAGES[code].native:
            problems += _language_pipeline(code, fa_url, g2p_url)
    return problems
