"""A worked example as plain text, Markdown (math in ``$…$``) or LaTeX, from one description whose
symbols are written in a small LaTeX subset."""

import re

import numpy as np

SUPERSCRIPT = str.maketrans("0123456789lkT()+-", "⁰¹²³⁴⁵⁶⁷⁸⁹ˡᵏᵀ⁽⁾⁺⁻")
SUBSCRIPT = str.maketrans("0123456789n", "₀₁₂₃₄₅₆₇₈₉ₙ")
WORDS = [
    (r"\leftarrow", "←"),
    (r"\nabla", "∇"),
    (r"\odot", "⊙"),
    (r"\lambda", "λ"),
    (r"\Omega", "Ω"),
    (r"\alpha", "α"),
    (r"\sigma", "σ"),
    (r"\partial ", "∂"),
    (r"\partial", "∂"),
    (r"\times", "×"),
    (r"\cdot", "·"),
    (r"\sum", "Σ"),
    (r"\tanh", "tanh"),
    (r"\max", "max"),
    (r"\exp", "exp"),
    (r"\log", "log"),
    (r"\le", "≤"),
    (r"\hat{y}", "ŷ"),
    (r"\top", "T"),
]


def plain(latex):
    """The LaTeX subset as Unicode text: a⁽¹⁾, W⁽¹⁾ᵀ, ∇_W⁽¹⁾ J, g ⊙ f'(a⁽¹⁾), Σₙ gₙ."""
    text = latex
    for word, symbol in WORDS:
        text = text.replace(word, symbol)
    text = re.sub(r"\^\{([^{}]*)\}", lambda m: m.group(1).replace(" ", "").translate(SUPERSCRIPT), text)
    text = re.sub(r"\^(\w)", lambda m: m.group(1).translate(SUPERSCRIPT), text)
    text = re.sub(r"_\{([^{}]*)\}", lambda m: "_" + m.group(1), text)
    text = re.sub(r"(?<=[Σg])_(n)\b", lambda m: m.group(1).translate(SUBSCRIPT), text)
    return text.replace("{", "").replace("}", "")


def number(value):
    """Four significant digits; 0 for an exact zero."""
    return "0" if value == 0 else f"{value:.4g}"


def matrix_text(array, indent="    "):
    array = np.atleast_1d(np.asarray(array, dtype=np.float64))
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    cells = [[number(v) for v in row] for row in rows]
    width = max(len(c) for row in cells for c in row)
    lines = ["[" + "  ".join(c.rjust(width) for c in row) + "]" for row in cells]
    if array.ndim == 1:
        return indent + lines[0]
    return "\n".join(
        indent + ("[" if i == 0 else " ") + line + ("]" if i == len(lines) - 1 else "") for i, line in enumerate(lines)
    )


def matrix_latex(array):
    array = np.atleast_1d(np.asarray(array, dtype=np.float64))
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    body = r" \\ ".join(" & ".join(number(v) for v in row) for row in rows)
    return r"\begin{bmatrix} " + body + r" \end{bmatrix}"


class Renderer:
    """Lines of one format: a heading, a paragraph, an equation with its value and its check."""

    def __init__(self, fmt):
        self.fmt, self.lines = fmt, []

    def math(self, latex):
        if self.fmt == "text":
            return plain(latex)
        return f"${latex}$" if self.fmt == "markdown" else f"\\({latex}\\)"

    def heading(self, title):
        if self.fmt == "text":
            self.lines += ["", title, "-" * len(title)]
        elif self.fmt == "markdown":
            self.lines += ["", f"### {title}", ""]
        else:
            self.lines += ["", f"\\paragraph{{{title}}}"]

    def paragraph(self, text):
        if self.fmt == "latex":
            text = text.replace("%", r"\%").replace("×", r"\(\times\)").replace("≈", r"\(\approx\)") + r"\\"
        self.lines += [text, ""] if self.fmt == "markdown" else [text]

    def quantity(self, quantity, checked_label="finite differences"):
        head = quantity.symbol if quantity.equation is None else f"{quantity.symbol} = {quantity.equation}"
        sizes = list(map(str, np.shape(quantity.value)))
        shape = (r"\(" + r" \times ".join(sizes) + r"\)" if self.fmt == "latex" else "×".join(sizes)) or "scalar"
        extras = [f"shape {shape}"] + ([quantity.note] if quantity.note else [])
        check = None
        if quantity.error is not None:
            check = f"{checked_label}: max relative error {quantity.error:.1e}"
        if quantity.whole:
            self._whole(head, extras, quantity, check, checked_label)
        else:
            self._summary(head, extras, quantity, check)

    def _extras(self, extras):
        """The shape (already in the format) and a note (in the LaTeX subset when it has math)."""
        shape, *notes = extras
        return "; ".join([shape, *(self.math(e) if "\\" in e or "^" in e else e for e in notes)])

    def _whole(self, head, extras, quantity, check, checked_label):
        if self.fmt == "latex":
            line = r"\[ " + head + " = " + matrix_latex(quantity.value)
            if quantity.numeric is not None:
                numeric = np.full(np.size(quantity.value), np.nan)
                numeric[quantity.entries] = quantity.numeric
                line += (
                    r" \quad \text{" + checked_label + ": } " + matrix_latex(numeric.reshape(np.shape(quantity.value)))
                )
            self.lines.append(line + r" \]")
            self.lines.append(f"({self._extras(extras)}{'; ' + check if check else ''})\\\\")
            return
        self.lines.append(f"{self.math(head)}  ({self._extras(extras)}{'; ' + check if check else ''})")
        block = matrix_text(quantity.value).split("\n")
        if quantity.numeric is not None:  # the finite differences beside the values
            numeric = matrix_text(np.asarray(quantity.numeric).reshape(np.shape(quantity.value)), indent="").split("\n")
            width = max(len(line) for line in block)
            middle = len(block) // 2
            block = [
                f"{line.ljust(width)}  {'≈' if i == middle else ' '}  {other}"
                for i, (line, other) in enumerate(zip(block, numeric))
            ]
            block[0] = block[0] + "   (finite differences)"
        if self.fmt == "markdown":
            self.lines += ["", "```text", *block, "```", ""]
        else:
            self.lines += block

    def _summary(self, head, extras, quantity, check):
        value = np.asarray(quantity.value, dtype=np.float64)
        flat = value.reshape(-1)
        entries = quantity.entries if quantity.entries is not None else np.argsort(-np.abs(flat))[:3]
        shown = []
        for slot, j in enumerate(entries):
            where = list(map(int, np.unravel_index(int(j), value.shape)))
            text = f"{where} {number(flat[j])}"
            if quantity.numeric is not None:
                text += f" (finite difference {number(quantity.numeric[slot])})"
            shown.append(text)
        norm = f"norm {number(float(np.linalg.norm(flat)))}"
        line = f"{self.math(head)}  ({self._extras(extras)}; {norm}); largest entries: {', '.join(shown)}"
        self.lines.append(line + (f"; {check}" if check else "") + (r"\\" if self.fmt == "latex" else ""))

    def text(self):
        return "\n".join(self.lines).strip() + "\n"
