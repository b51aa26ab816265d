"""The prose of the web pages, one catalog entry each (templates/locale/<lang>/LC_MESSAGES/web.po).

Templates get these already translated (`words(lang)`). The exercise's own headings are the ones
`derive quiz` prints (the same msgids, in check.po); the checker's messages (verdicts, feedback,
parse errors) come from derive.check's catalog through derive.web.checker.
"""

from __future__ import annotations

from derive.meta import N_

PROSE = {
    "assignments": N_("Assignments"),
    "no_assignments": N_("No assignments are served from this folder."),
    "open_with_link": N_("Open the link your lecturer gave you: it carries your personal token."),
    "network": N_("The network (forward pass):"),
    "graph": N_("The computational graph (forward pass):"),
    "values": N_("At the values:"),
    "activation": N_("The activation:"),
    "loss": N_("The loss:"),
    "task": N_("Find the derivatives:"),
    "variant": N_("Your variant: %(seed)s."),
    "names": N_("You may use these names:"),
    "syntax": N_("Write plain math: * or a space for a product, ^ for a power, I[z > 0] for an indicator, "
                 "max, relu, sigmoid, tanh, exp, log; or LaTeX: \\frac{a}{b}, \\theta_{11}, \\mathbb{I}[u_1 > 0]."),
    "matrix_syntax": N_("Matrices: A^T is the transpose, A B or A @ B the matrix product, A ⊙ B (or \\odot) the "
                        "Hadamard product; numpy notation works too: A.T @ B, and A * B element by element."),
    "reads_as": N_("Your answer reads as:"),
    "submit": N_("Check my answers"),
    "checking": N_("Checking…"),
    "score": N_("Correct: %(score)s of %(total)s"),
    "expected": N_("Expected:"),
    "network_error": N_("The server could not be reached; your answers are still on the page; try again."),
    "preview_offline": N_("No connection to the server: this answer cannot be read back now."),
    "too_many": N_("Too many checks in a minute: wait a little and submit again."),
    "too_long": N_("The answers are too long to be sent: shorten the longest one."),
    "server_error": N_("The server could not check the answers this time; they are still on the page; "
                       "try again in a minute."),
    "student": N_("Student: %(student)s"),
    "record": N_("Submitted: %(count)s; best result: %(score)s of %(total)s."),
    "lecturer": N_("Lecturer's page"),
    "submissions": N_("Submissions: %(count)s; students: %(students)s"),
    "gradebook_best": N_("Gradebook (best submission)"),
    "gradebook_last": N_("Gradebook (last submission)"),
    "no_submissions": N_("No submissions yet."),
    "language": N_("Language"),
}
ERRORS = {
    "token": N_("A valid token is needed: open the link your lecturer gave you."),
    "lecturer_only": N_("Only the lecturer may see this page."),
    "unknown_assignment": N_("There is no assignment “%(name)s” here."),
    "not_found": N_("There is no such page here: open the link your lecturer gave you."),
}


def words(lang: str) -> dict[str, str]:
    """PROSE and ERRORS translated into lang (arguments still to be filled in)."""
    from derive.render.i18n import translations

    gettext = translations(lang).gettext
    return {key: gettext(msgid) for key, msgid in {**PROSE, **ERRORS}.items()}
