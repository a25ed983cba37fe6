"""The start form's values go to CLAM as the administrator's presets of the same values do (scripts.models)."""

import pytest

from pipelines.forms import AlignmentForm
from pipelines.services import preset_values
from scripts.models import (
    BooleanParameter, ChoiceParameter, FloatParameter, IntegerParameter, ParameterChoice, Script, StringParameter,
    TextParameter,
)

pytestmark = pytest.mark.django_db

# What a researcher types (as the browser posts it) and what CLAM is sent for it.
CHOSEN = {"phone_tier": ("on", "True"), "beam": ("40", "40"), "scale": ("0.5", "0.5"), "label": ("sil", "sil"),
          "note": ("two\nlines", "two\nlines"), "format": ("short", "short"), "tiers": (["w", "s"], "w,s")}


def make_script():
    script = Script.objects.create(name="FA", url="http://127.0.0.1:9/")
    common = {"script": script, "preset": False}
    BooleanParameter.objects.create(clam_id="phone_tier", name="Phone tier", type="boolean", **common)
    IntegerParameter.objects.create(clam_id="beam", name="Beam", type="integer", **common)
    FloatParameter.objects.create(clam_id="scale", name="Scale", type="float", **common)
    StringParameter.objects.create(clam_id="label", name="Silence label", type="string", **common)
    TextParameter.objects.create(clam_id="note", name="Note", type="text", **common)
    single = ChoiceParameter.objects.create(clam_id="format", name="Format", type="choice", **common)
    multi = ChoiceParameter.objects.create(clam_id="tiers", name="Tiers", type="choice", multi=True, **common)
    for parameter, ids in ((single, ("long", "short")), (multi, ("w", "s", "p"))):
        for order, choice in enumerate(ids):
            ParameterChoice.objects.create(parameter=parameter, choice_id=choice, label=choice, order=order)
    return script


def test_the_researchers_values_are_sent_as_clam_wants_them():
    form = AlignmentForm({clam_id: typed for clam_id, (typed, _) in CHOSEN.items()}, script=make_script())
    assert form.is_valid(), form.errors
    assert form.clam_values() == {clam_id: sent for clam_id, (_, sent) in CHOSEN.items()}


def test_fields_left_empty_send_nothing_but_an_unticked_box_sends_false():
    # An empty multiple choice is sent as "", as before the form and the presets shared one conversion.
    form = AlignmentForm({}, script=make_script())
    assert form.is_valid(), form.errors
    assert form.clam_values() == {"phone_tier": "False", "tiers": ""}


def test_a_preset_is_sent_as_the_same_value_chosen_in_the_form_would_be():
    script = make_script()
    researcher = AlignmentForm({clam_id: typed for clam_id, (typed, _) in CHOSEN.items()}, script=script)
    assert researcher.is_valid(), researcher.errors
    presets = {"phone_tier": True, "beam": 40, "scale": 0.5, "label": "sil", "note": "two\nlines", "format": "short",
               "tiers": "w, s"}
    for base in script.parameters.all():
        parameter = base.specific
        parameter.value, parameter.preset = presets[parameter.clam_id], True
        parameter.save()
    assert preset_values(script) == researcher.clam_values()
