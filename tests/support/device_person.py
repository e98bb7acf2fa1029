#!/usr/bin/env python3
"""Play the person who approves (or denies) a device login, over plain HTTP.

The script does what a person does in a browser without JavaScript: it opens
the verification page, types the user code, compares the code on the
confirmation page, signs in, and allows access. It reads each page's forms
with html.parser, keeps cookies in an http.cookiejar, and follows redirects.

Usage:
    device_person.py --url URL [--user-code CODE] [--login NAME] [--deny]

--url is the verification URL the helper showed. With the plain URL, the
script types --user-code into the form. With verification_uri_complete, the
page carries the code itself, and the script still checks that the
confirmation page shows --user-code when one is given. --deny presses Cancel
on the confirmation page instead of Confirm.

Prints one JSON line to stdout, {"result": "approved"|"denied", "pages": [...]}
with the title of every page seen, and describes each step on stderr. Exits 1
with one line on stderr when a page is not what a person expects. Only
loopback URLs are opened.
"""

import argparse
import http.cookiejar
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

# Pages a device login goes through at most: input, auto-submit, confirm,
# login, consent, success, with room for one error page.
MAX_PAGES = 10
TIMEOUT_SECONDS = 10
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Form:
    """One HTML form: where it posts, its fields and its submit buttons."""

    def __init__(self, attrs):
        self.id = attrs.get("id")
        self.action = attrs.get("action", "")
        self.method = attrs.get("method", "get").lower()
        self.fields = []  # (name, type, value)
        self.buttons = []  # (label, name, value)

    def field_names(self):
        return {name for name, _, _ in self.fields}


class PageParser(HTMLParser):
    """Collects the title, the visible text and the forms of a page.

    A button or input outside a form element belongs to the form named by
    its `form` attribute, as in a browser.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.text = []
        self.forms = []
        self._current = None
        self._in_title = False
        self._in_script = False
        self._button = None
        self._pending = []  # inputs and buttons with a form attribute

    def _owner(self, attrs):
        return attrs.get("form") or self._current

    def handle_starttag(self, tag, attrs):
        attrs = {name: value if value is not None else "" for name, value in attrs}
        if tag == "title":
            self._in_title = True
        elif tag in ("script", "style"):
            self._in_script = True
        elif tag == "form":
            form = Form(attrs)
            self.forms.append(form)
            self._current = form
        elif tag == "input":
            kind = attrs.get("type", "text").lower()
            entry = ("input", kind, attrs.get("name"), attrs.get("value", ""))
            self._attach(self._owner(attrs), entry)
        elif tag == "button":
            self._button = {"attrs": attrs, "label": []}

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in ("script", "style"):
            self._in_script = False
        elif tag == "form":
            self._current = None
        elif tag == "button" and self._button is not None:
            attrs = self._button["attrs"]
            label = " ".join("".join(self._button["label"]).split())
            if attrs.get("type", "submit").lower() == "submit":
                entry = ("button", label, attrs.get("name"), attrs.get("value", ""))
                self._attach(self._owner(attrs), entry)
            self._button = None

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif self._button is not None:
            self._button["label"].append(data)
        elif not self._in_script:
            self.text.append(data)

    def _attach(self, owner, entry):
        if isinstance(owner, Form):
            self._add(owner, entry)
        elif owner:
            self._pending.append((owner, entry))

    @staticmethod
    def _add(form, entry):
        kind, detail, name, value = entry
        if kind == "button":
            form.buttons.append((detail, name, value))
        elif detail == "submit":
            form.buttons.append((value, name, value))
        elif name:
            form.fields.append((name, detail, value))

    def close(self):
        super().close()
        by_id = {form.id: form for form in self.forms if form.id}
        for form_id, entry in self._pending:
            if form_id in by_id:
                self._add(by_id[form_id], entry)

    def visible_text(self):
        return " ".join(" ".join(self.text).split())


class PersonError(Exception):
    """A page was not what a person following the login expects."""


class Person:
    def __init__(self, login, user_code, deny):
        self.login = login
        self.user_code = user_code
        self.deny = deny
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.titles = []

    def open(self, url, fields=None):
        """Requests `url` (a POST when `fields` is given) and parses the reply."""
        host = urllib.parse.urlsplit(url).hostname
        if host not in LOOPBACK_HOSTS:
            raise PersonError(f"refusing to open {url}: only loopback hosts are allowed")
        data = urllib.parse.urlencode(fields).encode() if fields is not None else None
        request = urllib.request.Request(url, data=data)
        try:
            with self.opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                final_url, body = response.geturl(), response.read()
        except urllib.error.HTTPError as error:
            final_url, body = error.geturl(), error.read()
        page = PageParser()
        page.feed(body.decode("utf-8", "replace"))
        page.close()
        title = " ".join(page.title.split())
        self.titles.append(title)
        log(f"page {title!r} at {urllib.parse.urlsplit(final_url).path}")
        return final_url, page

    def submit(self, url, form, fields, button_label=None):
        """Submits `form` as if its button `button_label` (or the first) was pressed."""
        values = list(fields)
        if form.buttons:
            labels = [label for label, _, _ in form.buttons]
            chosen = form.buttons[0] if button_label is None else next(
                (b for b in form.buttons if b[0] == button_label), None
            )
            if chosen is None:
                raise PersonError(f"no button {button_label!r} on the page; buttons: {labels}")
            label, name, value = chosen
            if name:
                values.append((name, value))
            log(f"press {label!r}")
        target = urllib.parse.urljoin(url, form.action or url)
        if form.method != "post":
            raise PersonError(f"form posting to {target} uses method {form.method}, expected post")
        return self.open(target, values)

    def run(self, url):
        url, page = self.open(url)
        for _ in range(MAX_PAGES):
            title = " ".join(page.title.split())
            forms = page.forms
            if title == "Device login complete":
                return "approved"
            if self.deny and title == "Activate your device" and "cancelled" in page.visible_text():
                return "denied"
            if title == "Submitting Callback" and len(forms) == 1:
                # The page submits itself with JavaScript; a person without
                # it presses the button, which sends the same hidden fields.
                form = forms[0]
                url, page = self.submit(url, form, hidden(form))
            elif title == "Activate your device":
                form = find_form(page, "user_code")
                if not self.user_code:
                    raise PersonError("the page asks for the user code, but none was given")
                if "not valid" in page.visible_text():
                    raise PersonError(f"the page rejected the user code: {page.visible_text()}")
                log(f"type the user code {self.user_code}")
                fields = [(n, self.user_code if n == "user_code" else v) for n, _, v in form.fields]
                url, page = self.submit(url, form, fields)
            elif title == "Confirm the device":
                page_text = page.visible_text()
                if self.user_code and normalize(self.user_code) not in normalize(page_text):
                    raise PersonError(f"the confirmation page does not show {self.user_code}: {page_text}")
                form = next((f for f in forms if f.id == "op.deviceConfirmForm"), None)
                if form is None:
                    raise PersonError("the confirmation page has no confirmation form")
                button = "Cancel" if self.deny else "Confirm"
                url, page = self.submit(url, form, pairs(form), button)
            elif title == "Sign in":
                form = find_form(page, "login")
                log(f"sign in as {self.login}")
                fields = []
                for name, _, value in form.fields:
                    if name == "login":
                        value = self.login
                    elif name == "password":
                        value = "any password"
                    fields.append((name, value))
                url, page = self.submit(url, form, fields)
            elif title == "Authorize access":
                allow = next((f for f in forms if any(b[0] == "Allow" for b in f.buttons)), None)
                if allow is None:
                    raise PersonError("the consent page has no Allow button")
                url, page = self.submit(url, allow, pairs(allow), "Allow")
            else:
                raise PersonError(f"unexpected page {title!r}: {page.visible_text()[:300]}")
        raise PersonError(f"no result after {MAX_PAGES} pages: {self.titles}")


def pairs(form):
    return [(name, value) for name, _, value in form.fields]


def hidden(form):
    return [(name, value) for name, kind, value in form.fields if kind == "hidden"]


def find_form(page, field):
    for form in page.forms:
        if field in form.field_names():
            return form
    raise PersonError(f"no form with a {field!r} field on page {page.title!r}")


def normalize(code):
    """User codes compare without case and dashes (RFC 8628 section 6.1)."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def log(message):
    print(f"person: {message}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the verification URL the helper showed")
    parser.add_argument("--user-code", default="", help="the user code the helper showed")
    parser.add_argument("--login", default="alice", help="the login name to sign in with")
    parser.add_argument("--deny", action="store_true", help="press Cancel on the confirmation page")
    args = parser.parse_args()

    person = Person(args.login, args.user_code, args.deny)
    try:
        result = person.run(args.url)
    except (PersonError, OSError) as error:
        print(f"device_person: {error}; pages seen: {person.titles}", file=sys.stderr)
        return 1
    print(json.dumps({"result": result, "pages": person.titles}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
