"""Annotation templates are plain substitution: checked at load, never executing anything, never raising."""

from __future__ import annotations

import pytest

from driftline.alerting.template import NO_VALUE, Template, format_value

FIELDS = {"value", "threshold", "rule"}


def test_substitution_with_number_formats_and_labels():
    t = Template.compile("{rule}: PSI {value:.2f} > {threshold} on {labels.feature} {{literal}}", FIELDS, {"feature"})
    assert t.render({"rule": "drift", "value": 0.31415, "threshold": 0.25}, {"feature": "amount"}) == \
        "drift: PSI 0.31 > 0.25 on amount {literal}"


@pytest.mark.parametrize("text", [
    "{value.__init__}", "{value.__class__.__mro__}", "{labels.__class__}", "{labels.__dict__}",
    "{labels[model_id]}", "{value[0]}", "{value!r}", "{value!s}", "{0}", "{}", "{__import__}",
    "{value:{threshold}}", "{labels.feature:%s}",
])
def test_attribute_access_indexing_and_conversions_are_rejected_at_load(text):
    with pytest.raises(ValueError):
        Template.compile(text, FIELDS, None)


class Exploding:
    """A value whose every attribute access or formatting would be noticed."""

    def __getattr__(self, name):
        raise AssertionError(f"template touched .{name}")

    def __format__(self, spec):
        raise AssertionError("template formatted an object")


def test_rendering_only_looks_up_plain_dicts():
    t = Template.compile("{labels.model_id} {rule}", FIELDS, None)
    assert t.render({"rule": "r", "value": Exploding()}, {"model_id": "m"}) == "m r"


def test_missing_values_render_as_no_value_and_never_raise():
    t = Template.compile("{value:.2f} {threshold} {labels.feature}", FIELDS, None)
    assert t.render({}, {}) == f"{NO_VALUE} {NO_VALUE} {NO_VALUE}"


def test_unknown_labels_are_load_errors_when_the_labels_are_known():
    with pytest.raises(ValueError, match="label 'feature' is not among this rule's labels"):
        Template.compile("{labels.feature}", FIELDS, {"model_id"})
    assert Template.compile("{labels.feature}", FIELDS, None).render({}, {"feature": "x"}) == "x"


@pytest.mark.parametrize(("value", "spec", "text"), [
    (0.31, "", "0.31"), (300.0, "", "300"), (0.1 + 0.2, "", "0.3"), (1234567.0, "", "1234567"),
    (1.5e20, "", "1.5e+20"), (float("nan"), "", "nan"), (0.0512, ".1%", "5.1%"), ("v7", "", "v7"),
    (None, ".2f", NO_VALUE),
])
def test_format_value(value, spec, text):
    assert format_value(value, spec) == text
