"""Reading a CLAM service's profiles, templates and parameters into the models.

Two phases: `describe()` fetches and parses everything into plain data and
raises a ClamError on any problem; `write()` then updates the models in one
transaction. So a failed import leaves the previous one intact.

The XML is read directly (lxml), not through the `clam` client's objects:
those lose choice labels, raw defaults and `required`, and refuse formats
they do not know.
"""

import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3

from django.db import transaction
from django.utils import timezone

from scripts.clam import ClamConnection, ClamError, MalformedResponse, ServerTimeout, ServerUnreachable
from scripts.crypto import PasswordUnreadable
from scripts.models import (
    PARAMETER_MODELS,
    BaseParameter,
    InputTemplate,
    OutputTemplate,
    ParameterChoice,
    Profile,
)

log = logging.getLogger(__name__)

_TAG_TYPES = {
    "BooleanParameter": BaseParameter.Type.BOOLEAN,
    "StaticParameter": BaseParameter.Type.STATIC,
    "StringParameter": BaseParameter.Type.STRING,
    "ChoiceParameter": BaseParameter.Type.CHOICE,
    "TextParameter": BaseParameter.Type.TEXT,
    "IntegerParameter": BaseParameter.Type.INTEGER,
    "FloatParameter": BaseParameter.Type.FLOAT,
}
_TRUE = {"1", "yes", "true", "True"}


@dataclass
class ParameterInfo:
    clam_id: str
    type: str
    name: str
    description: str
    group: str
    required: bool
    default: object  # in the parameter's own type, or None
    multi: bool = False
    choices: list = field(default_factory=list)  # [(id, label)]
    max_length: int = None


@dataclass
class InputTemplateInfo:
    template_id: str
    format: str
    label: str
    mimetype: str
    extension: str
    optional: bool
    unique: bool
    accept_archive: bool
    parameters: list
    filename: str = ""
    converters: list = field(default_factory=list)  # [[id, label]]
    constraints: list = field(default_factory=list)  # [{"type": "require"|"forbid", "tests": [[key, operator, value]]}]


@dataclass
class OutputTemplateInfo:
    template_id: str
    format: str
    label: str
    mimetype: str
    extension: str
    filename: str
    parent: str
    unique: bool
    # Empty: always produced. Else every entry must hold: {"if": [[parameter, operator, value], ...], "holds": bool}
    # (the output is in the `then` of a <parametercondition> when holds, in its `else` when not).
    condition: list = field(default_factory=list)


@dataclass
class ServiceDescription:
    name: str
    version: str
    profiles: list  # [(inputs, outputs)]
    parameters: list
    auth_scheme: str = "none"


class ImportFailed(ClamError):
    pass


class NoProfiles(ClamError):
    """The service is a CLAM service, but declares no profile to upload files to (e.g. one of actions only)."""


def _flag(element, name, default=False):
    value = element.get(name)
    return default if value is None else value in _TRUE


def _typed_default(kind, raw, element):
    try:
        if kind == BaseParameter.Type.BOOLEAN:
            return None if raw is None else raw in _TRUE
        if kind == BaseParameter.Type.INTEGER:
            return None if raw in (None, "") else int(float(raw))
        if kind == BaseParameter.Type.FLOAT:
            return None if raw in (None, "") else float(raw)
    except ValueError:
        raise MalformedResponse(
            f"parameter {element.get('id')!r} has a default {raw!r} that is not a {kind} value"
        ) from None
    return raw or ""


def _parameter(element, group):
    kind = _TAG_TYPES[element.tag]
    clam_id = element.get("id")
    if not clam_id:
        raise MalformedResponse(f"a {element.tag} in group {group!r} has no id")
    info = ParameterInfo(
        clam_id=clam_id,
        type=kind,
        name=element.get("name") or clam_id,
        description=element.get("description") or "",
        group=group,
        required=_flag(element, "required"),
        default=None,
    )
    if kind == BaseParameter.Type.CHOICE:
        info.multi = _flag(element, "multi")
        info.choices = [(c.get("id"), (c.text or c.get("id") or "").strip()) for c in element.iter("choice")]
        if not info.choices or any(not choice_id for choice_id, _ in info.choices):
            raise MalformedResponse(f"choice parameter {clam_id!r} has no choices or a choice without id")
        selected = [c.get("id") for c in element.iter("choice") if _flag(c, "selected")]
        info.default = ",".join(selected) if info.multi else (selected[0] if selected else "")
    elif kind == BaseParameter.Type.STATIC:
        info.default = element.get("value", "")
    else:
        raw = element.get("default")
        if raw is None and kind != BaseParameter.Type.BOOLEAN:
            raw = element.get("value")
        info.default = _typed_default(kind, raw, element)
        if kind == BaseParameter.Type.STRING and element.get("maxlength", "").isdigit():
            info.max_length = int(element.get("maxlength"))
    return info


def _parameters_of(element, group=""):
    return [_parameter(child, group) for child in element if child.tag in _TAG_TYPES]


def _input_template(template):
    if not template.get("id"):
        raise MalformedResponse("an input template has no id")
    return InputTemplateInfo(
        template_id=template.get("id"),
        format=template.get("format", ""),
        label=template.get("label") or template.get("id"),
        mimetype=template.get("mimetype", ""),
        # Kept whole: ".folia.xml" is one extension, not ".xml".
        extension=template.get("extension", "").lstrip("."),
        optional=_flag(template, "optional"),
        unique=_flag(template, "unique", True),
        accept_archive=_flag(template, "acceptarchive"),
        parameters=_parameters_of(template),
        filename=template.get("filename", ""),
        converters=[[c.get("id", ""), (c.text or c.get("id") or "").strip()] for c in template.findall("converter")],
        constraints=[
            {"type": c.get("type", "require"),
             "tests": [[t.get("key", ""), t.get("operator", ""), t.get("value", "")] for t in c.findall("test")]}
            for c in template.findall("constraint")
        ],
    )


def _output_templates(element, condition=()):
    """The output templates under `element` (a profile's <output>), each with the conditions on the way to it."""
    outputs = []
    for child in element:
        if child.tag == "OutputTemplate":
            if not child.get("id"):
                raise MalformedResponse("an output template has no id")
            outputs.append(
                OutputTemplateInfo(
                    template_id=child.get("id"),
                    format=child.get("format", ""),
                    label=child.get("label") or child.get("id"),
                    mimetype=child.get("mimetype", ""),
                    extension=child.get("extension", "").lstrip("."),
                    filename=child.get("filename", ""),
                    parent=child.get("parent", ""),
                    unique=_flag(child, "unique", True),
                    condition=list(condition),
                )
            )
        elif child.tag == "parametercondition":
            clauses = [[c.get("parameter", ""), c.tag, (c.text or "").strip()]
                       for c in child.findall("if/*")]
            if not clauses:
                raise MalformedResponse("a conditional output (parametercondition) has no condition")
            for branch in child:
                if branch.tag in ("then", "else", "otherwise"):
                    outputs += _output_templates(branch, [*condition, {"if": clauses, "holds": branch.tag == "then"}])
    return outputs


def parse_description(root):
    """ServiceDescription from the root <clam> element of a service's index page."""
    profiles = []
    profiles_element = root.find("profiles")
    for profile in profiles_element.findall("profile") if profiles_element is not None else []:
        inputs = [_input_template(t) for t in profile.iter("InputTemplate")]
        output_element = profile.find("output")
        outputs = _output_templates(output_element) if output_element is not None else []
        ids = [t.template_id for t in inputs]
        if len(set(ids)) != len(ids):
            raise MalformedResponse("a profile declares the same input template twice")
        ids = [t.template_id for t in outputs]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise MalformedResponse(
                f"a profile declares the output template {', '.join(twice)} more than once (under different "
                "conditions); Equestria keeps one output per template id"
            )
        profiles.append((inputs, outputs))
    parameters = []
    parameters_element = root.find("parameters")
    if parameters_element is not None:
        for group in parameters_element.findall("parametergroup"):
            parameters += _parameters_of(group, group.get("name", ""))
    ids = [p.clam_id for p in parameters]
    if len(set(ids)) != len(ids):
        raise MalformedResponse("the service declares a parameter id twice")
    if not profiles:
        raise NoProfiles(no_profiles_reason(root))
    return ServiceDescription(
        name=root.get("name") or root.get("id") or "", version=root.get("version", ""), profiles=profiles,
        parameters=parameters,
    )


_ONLY_ACTIONS = "the service offers only CLAM actions"
_NO_PROFILES = "the service declares no profiles"


def no_profiles_reason(root):
    """Why a service without profiles cannot be used, in the administrator's words."""
    actions = [a.get("name") or a.get("id") for a in root.iterfind("actions/action")]
    if actions:
        return (
            f"{_ONLY_ACTIONS} ({', '.join(actions)}) and no profiles, so it cannot be used "
            "in a pipeline: Equestria runs a service by uploading files to the input templates of one of its "
            "profiles, and an action takes no files"
        )
    return f"{_NO_PROFILES}, so there is nothing to upload to and it cannot be used in a pipeline"


def unusable(message):
    """Whether an import's failure `message` is about a service that was read but cannot be used."""
    return message.startswith((_ONLY_ACTIONS, _NO_PROFILES))


def _read_index(script):
    """(connection, root element of the service's index page), as the admin reads it; raises ClamError."""
    try:
        connection = ClamConnection.for_script(script, for_admin=True)
    except PasswordUnreadable as exc:
        raise ImportFailed(str(exc)) from None
    try:
        return connection, connection.index()
    except (ServerTimeout, ServerUnreachable):
        plain = _plain_http_twin(script.url, connection.deadline)
        if plain:
            raise ServerUnreachable(
                f"{connection.where()} does not answer in HTTPS, but a plain-HTTP server answers at that address: "
                f"if the service has no HTTPS, use {plain}"
            ) from None
        raise


def _plain_http_twin(url, deadline):
    """The http:// form of an https:// `url` when a plain-HTTP server answers there (a common slip: the
    HTTPS attempt then only times out or fails the handshake, which says nothing of the cause).

    Asked only within what is left of the admin's time (`deadline`, CLAM_ADMIN_TIMEOUT): the page has
    already waited for the HTTPS attempt."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    # Without credentials written into the URL (user:password@): requests would send them as Basic auth,
    # in clear text, to a server that only might be the service. The suggestion shows none either.
    host = _without_credentials(url).netloc
    # https://host/ means port 443; the same port over plain HTTP is what was mistyped.
    netloc = host if parts.port else f"{host}:443"
    plain = urlunsplit(("http", netloc, parts.path, "", ""))
    session = requests.Session()
    session.trust_env = False  # as every request to a CLAM server: no proxy from the environment
    try:
        # An HTTP answer of any kind is what matters; no credentials go with it.
        session.get(
            plain, timeout=urllib3.Timeout(connect=2, read=2, total=remaining), allow_redirects=False, stream=True
        ).close()
    except requests.exceptions.RequestException:
        return None
    finally:
        session.close()
    return plain


def _without_credentials(url):
    """`url` split (urlsplit), without a user name and password written into it."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2])


def describe(script):
    """Phase one: fetch and parse the live service. Raises ClamError."""
    connection, root = _read_index(script)
    description = parse_description(root)
    description.auth_scheme = connection.auth_scheme if script.username else "none"
    return description


def _preset_still_valid(old, info):
    """Whether an administrator's preset of `old` still fits the re-imported `info`."""
    if old.type != info.type:
        return False
    specific = old.specific
    if info.type == BaseParameter.Type.CHOICE:
        allowed = {choice_id for choice_id, _ in info.choices}
        if specific.multi != info.multi:
            return False
        return all(v in allowed for v in specific.selected())
    if info.type == BaseParameter.Type.STRING and info.max_length is not None:
        return len(specific.value) <= info.max_length
    return True


def _write_parameters(script, infos, input_template=None):
    existing = {p.clam_id: p for p in script.parameters.filter(input_template=input_template)}
    keep = set()
    for order, info in enumerate(infos):
        old = existing.get(info.clam_id)
        preset_kept = bool(old and old.preset and _preset_still_valid(old, info))
        old_value = old.specific.value if preset_kept else None
        old_range = (
            (old.specific.minimum, old.specific.maximum)
            if old and old.type == info.type and info.type in (BaseParameter.Type.INTEGER, BaseParameter.Type.FLOAT)
            else (None, None)
        )
        if old and old.type != info.type:
            old.delete()
            old = None
        model = PARAMETER_MODELS[info.type]
        parameter = old.specific if old else model(script=script, input_template=input_template, clam_id=info.clam_id)
        parameter.type = info.type
        parameter.name = info.name[:500]
        parameter.description = info.description
        parameter.group = info.group[:200]
        parameter.required = info.required
        parameter.order = order
        parameter.preset = preset_kept
        if info.type == BaseParameter.Type.STATIC:
            parameter.value = info.default
        else:
            parameter.default = info.default
            parameter.value = old_value if preset_kept else info.default
        if info.type == BaseParameter.Type.CHOICE:
            parameter.multi = info.multi
        if info.type == BaseParameter.Type.STRING:
            parameter.max_length = info.max_length
        if info.type in (BaseParameter.Type.INTEGER, BaseParameter.Type.FLOAT):
            parameter.minimum, parameter.maximum = old_range
        parameter.save()
        if info.type == BaseParameter.Type.CHOICE:
            parameter.choices.all().delete()
            ParameterChoice.objects.bulk_create(
                ParameterChoice(parameter=parameter, choice_id=choice_id[:200], label=label[:500], order=i)
                for i, (choice_id, label) in enumerate(info.choices)
            )
        keep.add(info.clam_id)
    for clam_id, old in existing.items():
        if clam_id not in keep:
            old.delete()


def _update(model, lookup, values):
    obj, _ = model.objects.update_or_create(**lookup, defaults=values)
    return obj


def _templates_in_use(script, description):
    """Refuses an import that would remove templates a pipeline connects (the database protects them; the
    administrator should hear which, and where, rather than about an unexpected error)."""
    from scripts.models import Pipeline

    declared = {
        (kind, index, t.template_id)
        for index, (inputs, outputs) in enumerate(description.profiles)
        for kind, templates in (("input", inputs), ("output", outputs))
        for t in templates
    }
    gone = []
    for field in Pipeline.TEMPLATE_FIELDS:
        kind = "output" if field in ("oov_output", "dictionary_output") else "input"
        label = Pipeline._meta.get_field(field).verbose_name
        for pipeline in Pipeline.objects.filter(**{f"{field}__profile__script": script}).select_related(
                f"{field}__profile"):
            template = getattr(pipeline, field)
            if (kind, template.profile.index, template.template_id) not in declared:
                gone.append(f"{kind} template “{template.template_id}”, which pipeline “{pipeline.name}” uses as "
                            f"“{label}”")
    if gone:
        raise ImportFailed(
            f"the service no longer declares the {'; the '.join(gone)}: choose another template in the pipeline "
            "first (or delete the pipeline); the previous import is kept meanwhile"
        )


def write(script, description):
    """Phase two: make the models match the description, in one transaction."""
    _templates_in_use(script, description)
    with transaction.atomic():
        kept_profiles = []
        for index, (inputs, outputs) in enumerate(description.profiles):
            profile, _ = Profile.objects.get_or_create(script=script, index=index)
            kept_profiles.append(profile.pk)
            for order, info in enumerate(inputs):
                values = {k: v for k, v in vars(info).items() if k not in ("template_id", "parameters")}
                template = _update(
                    InputTemplate, {"profile": profile, "template_id": info.template_id}, {**values, "order": order}
                )
                _write_parameters(script, info.parameters, template)
            profile.input_templates.exclude(template_id__in=[t.template_id for t in inputs]).delete()
            for order, info in enumerate(outputs):
                values = {k: v for k, v in vars(info).items() if k != "template_id"}
                _update(OutputTemplate, {"profile": profile, "template_id": info.template_id}, {**values, "order": order})
            profile.output_templates.exclude(template_id__in=[t.template_id for t in outputs]).delete()
        script.profiles.exclude(pk__in=kept_profiles).delete()
        _write_parameters(script, description.parameters)
        script.service_name = description.name[:300]
        script.clam_version = description.version[:50]
        script.auth_scheme = description.auth_scheme
        script.imported_at = timezone.now()
        script.import_error = ""
        script.save(update_fields=["service_name", "clam_version", "auth_scheme", "imported_at", "import_error", "updated_at"])


def import_script(script):
    """Import `script` from its server; on failure record the reason and keep the previous import.

    Returns None on success, else the message for the administrator.
    """
    try:
        description = describe(script)
        write(script, description)
        return None
    except ClamError as exc:
        message = str(exc)
    except Exception:
        log.exception("Unexpected error importing script %s (%s)", script.pk, _without_credentials(script.url).geturl())
        message = "an unexpected error occurred while importing; the server log has the details"
    script.import_error = message
    script.save(update_fields=["import_error", "updated_at"])
    return message


def check_connection(script):
    """A one-line verdict for the administrator: (ok, message)."""
    try:
        _, root = _read_index(script)
    except ClamError as exc:
        return False, str(exc)
    name = root.get("name") or root.get("id") or "unnamed"
    login = "no login needed" if root.get("authentication", "none") == "none" else "credentials accepted"
    reachable = f"reachable: CLAM service “{name}” (CLAM {root.get('version', '?')}), {login}"
    if root.find("profiles/profile") is None:
        return False, f"{reachable}, but {no_profiles_reason(root)}"
    return True, reachable
