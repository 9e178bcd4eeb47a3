"""Writes the synthetic original files under testdata/original/ (deterministic).

They exercise what the shared data cannot: CoLA (no header, in-place shuffles that
compound across seeds), MNLI (two eval files over 1000 rows, CRLF line ends), SNLI
(no final newline), STS-B (float scores), MRPC (label in column 0), and CSV tasks with
pandas quirks (quoted commas, quotes and newlines, NA strings, blank lines, a BOM,
CRLF, labels written " 1" or "+1", no final newline, a test set over 1000 rows).
"""
import csv
import io
import os
import random

random.seed(5)
W = ["a", "b", "c", "d", "e", "f", "g", "h"]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "original")


def sent(tricky=False):
    s = " ".join(random.choice(W) for _ in range(random.randint(1, 4)))
    if tricky:
        r = random.random()
        if r < 0.1: s += ", x"
        elif r < 0.2: s = 'say "hi" ' + s
        elif r < 0.25: s += "\nsecond"
        elif r < 0.3: s = "NA"
        elif r < 0.33: s = "None"
        elif r < 0.36: s = " " + s + " "
        elif r < 0.4: s = "null"
        elif r < 0.43: s += " \u00e9\u4e2d"
        elif r < 0.45: s = "12"
    return s


def write(path, text, nl="\n"):
    path = os.path.join(OUT, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write(text.replace("\n", nl))


def glue(task, header, ncols, labcol, labels, n, evals, ncols_dev=None, crlf=False, nofinal=False):
    def rows(m, nc):
        out = []
        for i in range(m):
            f = [str(i)] + [random.choice(W) for _ in range(nc - 2)]
            lab = random.choice(labels)
            if labcol == -1:
                f.append(lab)
            else:
                f.append(random.choice(W))
                f[labcol] = lab
            out.append("\t".join(f[:nc]))
        return out
    h = ["\t".join("c%d" % j for j in range(ncols))] if header else []
    t = "\n".join(h + rows(n, ncols)) + "\n"
    if nofinal:
        t = t[:-1]
    write(f"{task}/train.tsv", t, "\r\n" if crlf else "\n")
    for s, m in evals:
        nc = ncols_dev or ncols
        hd = ["\t".join("d%d" % j for j in range(nc))] if header else []
        write(f"{task}/{s}.tsv", "\n".join(hd + rows(m, nc)) + "\n")


glue("CoLA", False, 4, 1, ["0", "1", "1"], 120, [("dev", 1003)])
glue("MNLI", True, 12, -1, ["contradiction", "entailment", "neutral"], 150,
     [("dev_matched", 1005), ("dev_mismatched", 1002)], ncols_dev=16, crlf=True)
glue("SNLI", True, 11, -1, ["contradiction", "entailment", "neutral"], 100, [("dev", 50)], nofinal=True)
glue("MRPC", True, 5, 0, ["0", "1"], 60, [("dev", 20)])
rows = ["\t".join([str(i)] + [random.choice(W) for _ in range(8)] +
                  [random.choice(["0.000", "2.5", "2.499", "4.75", "5", "1e0", "3.2"])]) for i in range(120)]
write("STS-B/train.tsv", "c\t" * 9 + "c\n" + "\n".join(rows) + "\n")
write("STS-B/dev.tsv", "c\t" * 9 + "c\n" + "\n".join(rows[:20]) + "\n")

for task, labels, crlf, ntest in [("cr", [0, 1], True, 1010), ("subj", [0, 1, 2], False, 60), ("mpqa", [0, 1], False, 40)]:
    for split, n in [("train", 150), ("test", ntest)]:
        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator="\n")
        for i in range(n):
            lab = str(random.choice(labels))
            if random.random() < 0.05: lab = " " + lab
            if random.random() < 0.03: lab = "+" + lab.strip()
            wr.writerow([lab, sent(True)])
            if random.random() < 0.02: buf.write("\n")
            if random.random() < 0.02: buf.write("  \n")
        t = buf.getvalue()
        if task == "subj" and split == "train": t = "\ufeff" + t
        if task == "mpqa" and split == "train": t = t.rstrip("\n")
        write(f"{task}/{split}.csv", t, "\r\n" if crlf else "\n")
