"""The portal's own widgets write the same HTML as WTForms' would."""

from __future__ import annotations

import pytest
from flask_babel import lazy_gettext as _l
from wtforms import Form, SelectField

from portal.widgets import QuickSelect

CHOICES = [("", _l("All")), (1, 'Sở "Xây dựng" <Hà Nội> & co'), (2, "Phường Hoàn Kiếm"),
           ("yes", "Có"), (True, "bool")]


@pytest.mark.parametrize("data", ["", "1", "2", "yes", "<script>", "True"])
def test_quick_select_writes_what_wtforms_writes(app, data):
    class Plain(Form):
        field = SelectField("x", choices=CHOICES, validate_choice=False)

    class Quick(Form):
        field = SelectField("x", choices=CHOICES, validate_choice=False, widget=QuickSelect())

    with app.test_request_context():
        plain, quick = Plain(data={"field": data}), Quick(data={"field": data})
        assert str(quick.field()) == str(plain.field())
        assert str(quick.field(class_="wide")) == str(plain.field(class_="wide"))
        assert "<script>" not in str(quick.field())


def test_options_with_attributes_take_the_general_path(app):
    choices = [(1, "Sở <A>", {"lang": "vi"}), (2, "Phường B")]

    class Plain(Form):
        field = SelectField("x", choices=choices, validate_choice=False)

    class Quick(Form):
        field = SelectField("x", choices=choices, validate_choice=False, widget=QuickSelect())

    with app.test_request_context():
        assert str(Quick(data={"field": 2}).field()) == str(Plain(data={"field": 2}).field())
        assert '<option lang="vi" value="1">Sở &lt;A&gt;</option>' in str(Quick().field())
