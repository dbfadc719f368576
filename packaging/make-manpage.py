#!/usr/bin/env python3
"""Writes hookscope(1) from `hookscope --help`, so the man page never drifts from it.

usage: make-manpage.py HOOKSCOPE_BINARY VERSION DESCRIPTION OUT.1.gz

The help text's first paragraph (the usage lines) becomes SYNOPSIS; a paragraph
headed "Name:" becomes the section NAME in capitals, its two-column lines tagged
paragraphs (term, then the description that follows two or more spaces or sits on
the indented lines below); a closing "Exit codes: ..." line becomes EXIT STATUS.
"""
import gzip
import re
import subprocess
import sys


def roff(text):
    """Escapes text for roff: backslashes, and a leading dot or quote on a line."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.M)


def tagged(lines):
    """Two-column help lines as .TP paragraphs."""
    out, entry = [], None
    for line in lines:
        if re.match(r"^  \S", line):  # a new term
            if entry:
                out.append(entry)
            term, _, description = re.split(r"( {2,}|$)", line.strip(), maxsplit=1)
            entry = [term, [description.strip()] if description.strip() else []]
        elif entry and line.strip():
            entry[1].append(line.strip())
    if entry:
        out.append(entry)
    text = []
    for term, description in out:
        text += [".TP", r"\fB" + roff(term) + r"\fR"] + [roff(d) for d in description]
    return text


def main():
    binary, version, description, target = sys.argv[1:5]
    help_text = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True).stdout
    paragraphs = [p.split("\n") for p in help_text.strip().split("\n\n")]

    page = [
        f'.TH HOOKSCOPE 1 "" "HookScope {version}" "User Commands"',
        ".SH NAME",
        r"hookscope \- " + roff(description[0].lower() + description[1:]),
        ".SH SYNOPSIS",
        ".nf",
    ]
    usage = paragraphs[0]
    usage[0] = re.sub(r"^usage: ", "       ", usage[0])
    page += [roff(line[7:]) for line in usage] + [".fi"]
    page += [
        ".SH DESCRIPTION",
        "HookScope opens a Hugging Face checkpoint, generates from a prompt and shows "
        "the activations at every TransformerLens hook point over the prompt and the "
        "generated tokens. Without a sub-command it opens its window; the sub-commands "
        "below work on the command line. Without \\-\\-model, both use the bundled "
        "default model.",
    ]
    for paragraph in paragraphs[1:]:
        heading = re.match(r"^(\S[^:]*):$", paragraph[0])
        if heading:
            page.append(".SH " + heading.group(1).upper().replace("SUB-COMMANDS", "COMMANDS"))
            page += tagged(paragraph[1:])
        elif paragraph[0].startswith("Exit codes: "):
            page += [".SH EXIT STATUS", roff(" ".join(paragraph)[len("Exit codes: "):])]
        else:
            page += [".PP"] + [roff(line) for line in paragraph]

    # mtime 0: the same help text gives the same bytes.
    with gzip.GzipFile(target, "wb", mtime=0) as out:
        out.write(("\n".join(page) + "\n").encode())


if __name__ == "__main__":
    main()
