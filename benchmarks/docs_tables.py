"""The results tables of README.md and docs/*.md, made from benchmarks/results/*.json.

    python benchmarks/docs_tables.py            # rewrite every table block in README.md and docs/
    python benchmarks/docs_tables.py --check    # exit 1 naming each block that differs
    python benchmarks/docs_tables.py --list     # the table names and the files each reads
    python benchmarks/docs_tables.py NAME ...   # print these tables

A document holds a table as a block between two markers, which this script owns (edit the JSON
or this file, never the block):

    <!-- table: cars_all_methods begin -->
    ...
    <!-- table: cars_all_methods end -->

Each table ends with a line naming its files and, from each JSON, the command and the machine it
records, and its date where it records one; a file that lacks a command or machine says so.
tests/test_docs.py fails when a committed block differs from what this script makes of the
committed JSON, so a figure in a table cannot drift from its file.
"""
import functools
import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
BLOCK = re.compile(r"<!-- table: (?P<name>[\w-]+) begin -->\n(?P<body>.*?)"
                   r"<!-- table: (?P=name) end -->", re.S)
MARKER = re.compile(r"<!-- table: ([\w-]+) (begin|end) -->")

NAMES = {"mean": "mean colour", "telea": "OpenCV Telea", "ns": "OpenCV Navier-Stokes",
         "biharmonic": "scikit-image biharmonic", "patchmatch": "PatchMatch (pypatchmatch)",
         "real (2nd sample)": "a second sample of real images (SWD floor)"}


# --- files and their provenance

@functools.lru_cache(maxsize=None)
def load(name):
    with open(os.path.join(RESULTS, name)) as f:
        return json.load(f)


def exists(name):
    return os.path.exists(os.path.join(RESULTS, name))


def machine_text(m):
    gpus = ", ".join(m.get("gpus") or []) or "no GPU"
    bf16 = {True: " (native bf16)", False: " (no native bf16)"}.get(m.get("native_bf16"), "")
    return (f"{m.get('cpu', '?')}{bf16}, {m.get('cores', '?')} cores, {gpus}, Python "
            f"{m.get('python', '?')}, TensorFlow {m.get('tensorflow', '?')}")


def provenance(name):
    """One file's part of a caption: its path, command and machine as the JSON records them."""
    d = load(name)
    parts = []
    command = d.get("command") if isinstance(d, dict) else None
    if command:
        parts.append(f"command `{command}`")
    else:
        parts.append("no command in the JSON (benchmarks/results/README.md gives it)")
    parts.append(f"machine {machine_text(d['machine'])}" if d.get("machine")
                 else "no machine in the JSON")
    if isinstance(d, dict) and d.get("date"):
        parts.append(f"date {d['date']}")
    return f"`benchmarks/results/{name}`: " + "; ".join(parts)


def caption(names, note=None):
    dated = any(isinstance(load(n), dict) and load(n).get("date") for n in names)
    text = "Source: " + ". ".join(provenance(n) for n in names) + (
        "." if dated else ". No date is recorded.")
    return (f"{note} " if note else "") + text


# --- formatting

def fmt(value, spec, bold=False):
    if value is None:
        return ""
    text = format(value, spec)
    return f"**{text}**" if bold else text


def sentence(text):
    """`text` as a sentence: first letter upper case (the rest as it is), a final full stop."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def label(method, names=None):
    return (names or {}).get(method) or NAMES.get(method, method)


def metric_row(r, columns):
    return [fmt(r.get(k), spec) for k, spec in columns]


QUALITY = (("hole_psnr", ".2f"), ("psnr", ".2f"), ("ssim", ".3f"), ("hole_l1", ".4f"))
QUALITY_HEADER = ["hole PSNR", "PSNR", "SSIM", "hole L1"]
SWD = (("swd", ".1f"),)


def rows_of(d, protocol=None):
    return d["protocols"][protocol]["rows"] if protocol else d["rows"]


def by_psnr(rows):
    """Learned and classical rows by hole PSNR, best first; rows without one (the real-image
    SWD floor, refused methods) last in their order."""
    return sorted(rows, key=lambda r: (r.get("hole_psnr") is None, -(r.get("hole_psnr") or 0)))


# --- the tables

TABLES = {}


def table(name, *files, optional=()):
    """Registers a table made from `files` (and `optional` ones when they exist)."""
    def wrap(fn):
        TABLES[name] = (fn, files, optional)
        return fn
    return wrap


def sources(name):
    _, files, optional = TABLES[name]
    return list(files) + [f for f in optional if exists(f)]


def render(name):
    fn, _, _ = TABLES[name]
    return fn(*sources(name)).rstrip("\n") + "\n"


CARS_LABELS = {"unet_freeform": "unet, trained on free-form holes",
               "cvae_patch": "cvae_patch (prior-mean fill)", "cvae": "cvae (prior-mean fill)",
               "real (2nd sample)": "a second sample of real cars (SWD floor)"}


def quality_table(rows, names=None, swd=True, ms=False):
    header = ["method", *QUALITY_HEADER] + (["SWD (lower is better)"] if swd else []) \
        + (["ms/img"] if ms else [])
    cols = QUALITY + (SWD if swd else ()) + ((("ms_per_image", ".2f"),) if ms else ())
    body = [[label(r["method"], names), *metric_row(r, cols)] for r in by_psnr(rows)]
    return markdown(header, body)


@table("cars_all_methods", "quality_cars_all_methods.json")
def cars_all_methods(f):
    """Every cars method's export on the same 12x12 holes (the README's headline)."""
    return quality_table(rows_of(load(f), "random"), CARS_LABELS) + "\n\n" + caption(
        [f], "1000 CIFAR-10 test cars, 12x12 holes (the square protocol), each export through its "
        "`serving_default` signature; every model trained in bf16 (the training commands are in "
        "benchmarks/results/README.md).")


@table("cars_float32", "quality_cars_all.json")
def cars_float32(f):
    d = load(f)
    return quality_table(d["rows"], swd=False, ms=True) + "\n\n" + caption(
        [f], "The square protocol, float32 trainings (epochs in the command), models scored in "
        "the process that trained them.")


RUNS = ("ae_patch_40_epochs_metrics.json", "ae_40_epochs_metrics.json",
        "unet_40_epochs_metrics.json", "unet_70_epochs_metrics.json",
        "gan_25_epochs_metrics.json", "unet_freeform_60_epochs_metrics.json")


@table("cars_runs", *RUNS)
def cars_runs(*files):
    """One row per run folder's metrics.json: the run's own method row and its settings."""
    header = ["method", "holes trained / scored", "epochs", "batch", "precision",
              "training s", *QUALITY_HEADER, "SWD", "biharmonic hole PSNR / SWD", "file"]
    body = []
    for f in files:
        d = load(f)
        c = d["config"]
        own = next(r for r in d["rows"] if r["method"] == d["method"])
        bih = next((r for r in d["rows"] if r["method"] == "biharmonic"), {})
        body.append([d["method"], f"{c['holes_kind']} / {d['protocol']['holes']}", d["epochs"],
                     c["batch_size"], c["precision"], fmt(d.get("train_seconds"), ",.0f"),
                     *metric_row(own, QUALITY + SWD),
                     f"{fmt(bih.get('hole_psnr'), '.2f')} / {fmt(bih.get('swd'), '.1f')}",
                     f"`{f}`"])
    return markdown(header, body) + "\n\n" + (
        "Each file is the run folder's `metrics.json` (1000 test cars, its scored holes); such a "
        "file records the run's settings and training seconds but no command, machine or date: "
        "benchmarks/results/README.md gives the command and the machine of each.")


FACES = {"real (2nd sample)": "a second sample of real faces (SWD floor)"}


def faces_table(f, extra_note):
    d = load(f)
    rows = by_psnr(d["rows"])
    bih = next(r for r in rows if r["method"] == "biharmonic")
    header = ["method", *QUALITY_HEADER, "SWD", "ms/img", "hole PSNR vs biharmonic"]
    body = []
    for r in rows:
        gain = None if r.get("hole_psnr") is None or r is bih else r["hole_psnr"] - bih["hole_psnr"]
        body.append([label(r["method"], FACES),
                     *metric_row(r, QUALITY + SWD + (("ms_per_image", ".1f"),)),
                     fmt(gain, "+.2f")])
    p, c = d["protocol"], d["config"]
    note = (f"{p['images']} test faces at {c['image_size']}x{c['image_size']}, a {p['hole']}x"
            f"{p['hole']} {p['holes']} hole; {d['epochs']} epochs, {c['precision']}, "
            + (f"{d['train_seconds']:,.0f} s of training; " if d.get("train_seconds")
               else "training time not in the file; ") + extra_note)
    return markdown(header, body) + "\n\n" + note + " " + caption([f])


@table("faces_context_encoder", "context_encoder_faces128_42_epochs_metrics.json")
def faces_context_encoder(f):
    return faces_table(f, "the run's metrics.json.")


@table("faces_dcgan", "dcgan_faces64_150_epochs_metrics.json")
def faces_dcgan(f):
    return faces_table(f, "the run's metrics.json (the default latent search).")


@table("faces_earlier", "quality_faces64_dcgan.json", "quality_faces128_context_encoder.json")
def faces_earlier(*files):
    header = ["file", "protocol", "method", *QUALITY_HEADER, "ms/img", "training (epochs, s)"]
    body = []
    for f in files:
        d = load(f)
        for r in by_psnr(d["rows"]):
            if r["method"] == "mean":
                continue
            t = d.get("training", {}).get(r["method"])
            body.append([f"`{f}`", d["title"], label(r["method"]),
                         *metric_row(r, QUALITY + (("ms_per_image", ".1f"),)),
                         f"{t['epochs']}, {t['seconds']:,.0f}" if t else ""])
    return markdown(header, body) + "\n\n" + caption(
        files, "The 5,000-face version of the data (test = its last 500), float32. The dcgan "
        "row's training entry counts only the 25 epochs its command resumed for.")


@table("dcgan_search_variants", "dcgan_faces_search_variants.json",
       "dcgan_faces_search_1000.json")
def dcgan_search_variants(*files):
    header = ["variant", "settings", "hole PSNR", "SWD", "seconds (100 faces)"]
    body = []
    for f in files:
        for r in load(f)["rows"]:
            settings = ", ".join(f"{k}={v}" for k, v in sorted(r["settings"].items()))
            body.append([r["variant"], settings, fmt(r["hole_psnr"], ".2f"), fmt(r["swd"], ".1f"),
                         fmt(r["seconds"], ".0f")])
    return markdown(header, body) + "\n\n" + caption(
        files, "The 150-epoch faces DCGAN, the first 100 test faces, one latent-search variant "
        "per row.")


@table("dcgan_search_speed", "dcgan_search.json")
def dcgan_search_speed(f):
    header = ["variant", "settings", "seconds (100 faces)", "hole PSNR"]
    body = [[r["variant"], ", ".join(f"{k}={v}" for k, v in sorted(r["settings"].items())),
             fmt(r["seconds"], ".0f"), fmt(r["hole_psnr"], ".2f")] for r in load(f)["rows"]]
    return markdown(header, body) + "\n\n" + caption(
        [f], "A width-32 DCGAN trained 2 epochs (it fills with coloured noise): only the times "
        "count here.")


FREEFORM_FILES = ("quality_freeform_unet60.json", "quality_freeform_cars.json",
                  "quality_cars_all_methods.json", "quality_freeform_classical.json")
FREEFORM_MODELS = (  # (file, method in it, label)
    ("quality_freeform_unet60.json", "unet_freeform60", "unet (free-form, 60 epochs, bf16)"),
    ("quality_freeform_cars.json", "unet_freeform", "unet (free-form)"),
    ("quality_freeform_cars.json", "unet_freeform_kw0", "unet (free-form, known_weight 0)"),
    ("quality_freeform_cars.json", "ae_freeform", "ae (free-form)"),
    ("quality_freeform_cars.json", "unet_square", "unet (squares)"),
    ("quality_freeform_cars.json", "conv_square", "conv (squares)"),
    ("quality_freeform_cars.json", "ae_square", "ae (squares)"),
    ("quality_freeform_cars.json", "cvae_square", "cvae (squares)"),
    ("quality_cars_all_methods.json", "gan", "gan (squares, bf16)"),
    ("quality_cars_all_methods.json", "conv", "conv (squares, bf16)"),
    ("quality_cars_all_methods.json", "ae", "ae (squares, bf16)"),
    ("quality_cars_all_methods.json", "cvae", "cvae (squares, bf16)"),
    ("quality_freeform_cars.json", "ae_patch_square", "ae_patch (squares)"),
    ("quality_freeform_cars.json", "cvae_patch_square", "cvae_patch (squares)"),
    ("quality_freeform_classical.json", "biharmonic", NAMES["biharmonic"]),
    ("quality_freeform_classical.json", "ns", NAMES["ns"]),
    ("quality_freeform_classical.json", "telea", NAMES["telea"]),
    ("quality_freeform_classical.json", "mean", NAMES["mean"]),
    ("quality_freeform_classical.json", "real (2nd sample)", "a second sample of real cars"),
)


@table("freeform", *FREEFORM_FILES)
def freeform(*files):
    header = ["method (trained on)", "10-20%: hole PSNR", "PSNR", "SSIM", "hole L1", "SWD",
              "30-40%: hole PSNR", "PSNR", "SSIM", "SWD", "file"]
    body = []
    for f, method, name in FREEFORM_MODELS:
        cells = []
        for band, cols in (("freeform_10_20", QUALITY + SWD),
                           ("freeform_30_40", QUALITY[:3] + SWD)):
            r = next(r for r in rows_of(load(f), band) if r["method"] == method)
            cells += (["refused"] + [""] * (len(cols) - 1)) if r.get("refused") \
                else metric_row(r, cols)
        body.append([name, *cells, f"`{f}`"])
    return markdown(header, body) + "\n\n" + caption(
        files, "1000 test cars with the fixed free-form masks of benchmarks/freeform_masks/ "
        "(10-20% and 30-40% of the image); exports through `serving_default`.")


PHOTO_FILES = ("photo_protocol.json",)
PHOTO_OPTIONAL = ("photo_ffc.json",)
FAMILIES = ("thin", "medium", "thick", "object")
SETS = {"bsds": "BSDS500 test", "kodak": "Kodak"}


def photo_rows(files, photo_set):
    rows = [r for f in files for r in load(f)["rows"] if r["set"] == photo_set]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    return rows, methods


def photo_table(files, photo_set):
    rows, methods = photo_rows(files, photo_set)
    cell = {(r["method"], r["family"]): r for r in rows}
    best = {fam: max(r["hole_psnr"] for r in rows if r["family"] == fam) for fam in FAMILIES
            if any(r["family"] == fam for r in rows)}
    header = ["method", *(f"{fam}: hole PSNR / SWD" for fam in best)]
    body = []
    for m in methods:
        line = [label(m)]
        for fam in best:
            r = cell.get((m, fam))
            line.append("" if r is None else
                        f"{fmt(r['hole_psnr'], '.2f', r['hole_psnr'] == best[fam])} / "
                        f"{fmt(r['swd'], '.0f')}")
        body.append(line)
    n = sorted({r["images"] for r in rows})
    return markdown(header, body) + "\n\n" + caption(
        files, f"{SETS[photo_set]} ({', '.join(map(str, n))} photos at their own size), one "
        "photo at a time; the best hole PSNR of each family in bold.")


@table("photo_bsds", *PHOTO_FILES, optional=PHOTO_OPTIONAL)
def photo_bsds(*files):
    return photo_table(files, "bsds")


@table("photo_kodak", *PHOTO_FILES, optional=PHOTO_OPTIONAL)
def photo_kodak(*files):
    return photo_table(files, "kodak")


CLASSICAL = ("telea", "ns", "biharmonic", "patchmatch")


@table("photo_ffc_margins", "photo_protocol.json", "photo_ffc.json")
def photo_ffc_margins(*files):
    """The shipped model's hole PSNR minus the best classical method's and the unet's."""
    rows = [r for f in files for r in load(f)["rows"]]
    get = {(r["set"], r["family"], r["method"]): r["hole_psnr"] for r in rows}
    header = ["set", *(f"{fam}: over best classical (which)" for fam in FAMILIES),
              *(f"{fam}: over unet" for fam in FAMILIES)]
    body = []
    for s in SETS:
        line = [SETS[s]]
        for fam in FAMILIES:
            best = max(CLASSICAL, key=lambda m: get[(s, fam, m)])
            line.append(f"{get[(s, fam, 'ffc')] - get[(s, fam, best)]:+.2f} ({label(best)})")
        line += [f"{get[(s, fam, 'ffc')] - get[(s, fam, 'unet')]:+.2f}" for fam in FAMILIES]
        body.append(line)
    return markdown(header, body) + "\n\n" + caption(
        files, "Hole PSNR differences in dB (the shipped `ffc` minus the other), from the two "
        "photo tables above.")


@table("photo_regions", "photo_protocol.json", "photo_ffc.json", "photo_ffc_regions.json",
       "photo_ffc_regions_512.json", "photo_ffc_x2.json", "photo_ffc_regions_x2.json",
       "photo_resolution_bound.json")
def photo_regions(*files):
    """Whole-photo against region-by-region fills (working size 768, and 512), at 768x512 and
    1536x1024 (Kodak x2), and the region-by-region fill made at 768x512 and enlarged
    (photo_resolution_bound.py)."""
    bound = load(files[-1])
    rows = [r for f in files[:-1] for r in load(f)["rows"] if r["set"].startswith("kodak")]
    get = {(r["set"], r["family"], r["method"]): r for r in rows}
    small = f"ffc at 1/{bound['scale']}, enlarged"
    get[("kodak", "medium", small)] = get[("kodak", "medium", "ffc_regions")]
    get[("kodak_x2", "medium", small)] = next(r for r in bound["rows"] if r["method"] == small)
    header = ["fill", *(f"Kodak {fam}" for fam in FAMILIES), "Kodak medium, 1536x1024 (x2)",
              "margin over biharmonic, medium: 768x512 -> 1536x1024"]
    body = []
    for method, name in (("ffc", "ffc, whole photo at once"),
                         ("ffc_regions", "ffc, region by region (`tfinpaint fill`)"),
                         ("ffc_regions_512", "ffc, region by region at a working size of 512 "
                          "(`--working=512`)"),
                         (small, "ffc, region by region at 768x512, the fill enlarged (the "
                          "same fill at any size)"),
                         ("biharmonic", label("biharmonic"))):
        line = [name]
        for fam in FAMILIES:
            r = None if method == small else get.get(("kodak", fam, method))
            line.append("" if r is None else f"{r['hole_psnr']:.2f}")
        x2 = get.get(("kodak_x2", "medium", method), {}).get("hole_psnr")
        line.append("" if x2 is None else f"{x2:.2f}")
        if method == "biharmonic" or x2 is None:
            line.append("")
        else:
            one = get[("kodak", "medium", method)]["hole_psnr"] - \
                get[("kodak", "medium", "biharmonic")]["hole_psnr"]
            two = x2 - get[("kodak_x2", "medium", "biharmonic")]["hole_psnr"]
            line.append(f"{one:+.2f} -> {two:+.2f} (shrinks {one - two:.2f})")
        body.append(line)
    hole_psnr = lambda fam, method: get[("kodak", fam, method)]["hole_psnr"]  # noqa: E731
    shifts = " / ".join(f"{hole_psnr(fam, 'ffc_regions_512') - hole_psnr(fam, 'ffc_regions'):+.2f}"
                        for fam in FAMILIES)
    return markdown(header, body) + "\n\n" + caption(
        files, "Hole PSNR (dB). Kodak x2: the photos enlarged twice (bicubic), masks with them. "
        "Region by region: each hole region's crop filled at up to 768 px on its longer side "
        "(tfinpaint.regions), as `tfinpaint fill` and the page do; at up to 512 px, closer to "
        f"the 256-px training crops, the fill changes by {shifts} dB (thin, medium, thick, "
        "object), so 768 stays the default. The same fill at any size: "
        "the x2 photo and hole shrunk to 768x512, filled region by region, the fill enlarged "
        "(bicubic, as the photos were) into the hole: what a model that does not depend on the "
        "size would give.")


@table("photo_times", *PHOTO_FILES, optional=PHOTO_OPTIONAL + ("photo_ffc_kodak_avx2.json",))
def photo_times(*files):
    """ms per photo of every method; rows from a machine whose CPU lacks native bf16 (another
    kind than the one the rest was measured on) are rows of their own, marked."""
    rows = [(r, load(f)["machine"].get("native_bf16") is False) for f in files
            for r in load(f)["rows"]]
    header = ["method", *(f"{SETS[s]}: ms per photo (fastest-slowest family)" for s in SETS)]
    body = []
    for m, other in dict.fromkeys((r["method"], other) for r, other in rows):
        line = [label(m) + (" (another machine: a CPU without native bf16)" if other else "")]
        for s in SETS:
            ms = [r["ms_per_image"] for r, o in rows
                  if r["method"] == m and o == other and r["set"] == s]
            line.append(f"{min(ms):,.0f}-{max(ms):,.0f}" if ms else "")
        body.append(line)
    return markdown(header, body) + "\n\n" + caption(files)


@table("photo_hole_areas", "photo_protocol.json")
def photo_hole_areas(f):
    areas = load(f)["hole_areas"]
    header = ["family", *(f"{SETS[s]}: hole share min / mean / max" for s in areas)]
    body = [[fam, *(" / ".join(f"{100 * v:.1f}%" for v in areas[s][fam]) for s in areas)]
            for fam in FAMILIES]
    return markdown(header, body) + "\n\n" + caption([f])


@table("photo_training", "photo_unet_training.json")
def photo_training(*files):
    header = ["file", "epochs", "steps", "batch", "seconds", "s/epoch",
              "last epoch: val hole PSNR"]
    body = [[f"`{f}`", d["epochs"], d["steps"], d["global_batch_size"], fmt(d["seconds"], ",.0f"),
             fmt(d["seconds_per_epoch"], ".1f"), fmt(d["last_epoch"]["val_hole_psnr"], ".2f")]
            for f, d in ((f, load(f)) for f in files)]
    return markdown(header, body) + "\n\n" + (
        "Each file is a run folder's `training.json` (256x256 crops): no command, machine or date "
        "in it; benchmarks/results/README.md gives them.")


# --- speed

def step_rows(f, xla="off"):
    return [s for s in load(f)["steps"] if s.get("xla", "off") == xla]


@table("speed_steps", "speed_cpu_zen4_steps.json")
def speed_steps(f):
    steps = step_rows(f)
    methods = list(dict.fromkeys(s["method"] for s in steps))
    precisions = list(dict.fromkeys(s["precision"] for s in steps))
    header = ["method", *(f"project / plain Keras, {p}" for p in precisions),
              *(f"images/s {p} (project / plain)" for p in precisions)]
    body = []
    for m in methods:
        got = {s["precision"]: s for s in steps if s["method"] == m}
        body.append([f"`{m}`", *(fmt(got[p]["ratio"], ".2f") for p in precisions),
                     *(f"{got[p]['project']:.0f} / {got[p]['reference']:.0f}" for p in precisions)])
    return markdown(header, body) + "\n\n" + caption(
        [f], f"Batch {load(f)['batch_size']}, 32x32 cars, XLA off; the project's training step "
        "against a plain-Keras `compile(loss=\"mse\")` model of the same network.")


@table("speed_precision_xla", "speed_cpu_zen4.json", "speed_cpu.json")
def speed_precision_xla(*files):
    header = ["machine", "method", "bf16 / float32 (project step)", "XLA on / off, float32",
              "XLA on / off, bf16", "images/s float32 / bf16 (XLA off)"]
    body = []
    for f in files:
        d = load(f)
        steps = {(s["method"], s["precision"], s["xla"]): s["project"] for s in d["steps"]}
        for m in dict.fromkeys(s["method"] for s in d["steps"]):
            f32, bf = steps.get((m, "float32", "off")), steps.get((m, "mixed_bfloat16", "off"))
            xf, xb = steps.get((m, "float32", "on")), steps.get((m, "mixed_bfloat16", "on"))
            body.append([d["machine"]["cpu"], f"`{m}`", fmt(bf and bf / f32, ".2f"),
                         fmt(xf and xf / f32, ".2f"), fmt(xb and bf and xb / bf, ".2f"),
                         f"{f32:.0f} / {fmt(bf, '.0f') or '-'}"])
    return markdown(header, body) + "\n\n" + caption(
        files, "Project training steps, batch 64, 32x32 cars. speed_cpu_zen4.json predates the "
        "patch-frame step change (speed_steps has the later figures).")


def xla_range(files=("speed_cpu_zen4.json", "speed_cpu.json")):
    """(lowest, highest) XLA on / off ratio of the project step in the speed files."""
    ratios = []
    for f in files:
        steps = {(s["method"], s["precision"], s["xla"]): s["project"] for s in load(f)["steps"]}
        ratios += [v / steps[(m, p, "off")] for (m, p, x), v in steps.items()
                   if x == "on" and (m, p, "off") in steps]
    return min(ratios), max(ratios)


@table("speed_epochs", "speed_cpu_zen4_steps.json", "speed_cpu_zen4.json", "speed_cpu.json")
def speed_epochs(*files):
    header = ["file", "method", "tfinpaint.main epoch s", "plain-Keras fit epoch s", "ratio"]
    body = [[f"`{f}`", f"`{e['method']}`", fmt(e["project_s"], ".2f"),
             fmt(e["reference_s"], ".2f"), fmt(e["ratio"], ".2f")]
            for f in files for e in load(f)["epochs"]]
    return markdown(header, body) + "\n\n" + caption(
        files, "Whole epochs (validation with every protocol metric, checkpoints, TensorBoard, "
        "sample grid) against a plain-Keras `fit` epoch on the same network and data; median of "
        "the timed epochs.")


@table("bf16_probe", "speed_cpu_bf16_probe.json", "precision_step_cpu.json")
def bf16_probe(cars, photo):
    """bf16 against float32 where the CPU has no native bf16: a cars step (speed.py) and the
    photo model's step (precision_step.py), each in images/s."""
    d = load(cars)
    got = {s["precision"]: s["project"] for s in d["steps"]}
    rows = [("`conv` (32x32 cars)", got["float32"], got["mixed_bfloat16"], d["native_bf16"])]
    p = load(photo)
    per_s = {r["precision"]: r["images_per_s"] for r in p["rows"]}
    rows.append((f"`{p['method']}` ({p['size']}x{p['size']} photos, batch {p['batch_size']})",
                 per_s["float32"], per_s["mixed_bfloat16"], p["machine"]["native_bf16"]))
    header = ["method", "images/s float32", "images/s bf16", "bf16 / float32", "native bf16"]
    body = [[name, fmt(f32, ".2f" if f32 < 10 else ".1f"), fmt(bf, ".2f" if bf < 10 else ".1f"),
             fmt(bf / f32, ".2f"), str(native)] for name, f32, bf, native in rows]
    return markdown(header, body) + "\n\n" + caption([cars, photo])


@table("hole_makers", "speed_cpu_zen4_steps.json", "speed_photos_cpu.json")
def hole_makers(*files):
    header = ["file", "batch", "image size", *("images/s: " + h["maker"]
                                                for h in load(files[0])["holes"])]
    body = []
    makers = [h["maker"] for h in load(files[0])["holes"]]
    for f in files:
        d = load(f)
        got = {h["maker"]: h["images_per_s"] for h in d["holes"]}
        body.append([f"`{f}`", d["batch_size"], d.get("size", 32),
                     *(fmt(got.get(m), ",.0f") for m in makers)])
    photo = load(files[1])
    body2 = [[h["maker"], fmt(h["images_per_s"], ",.0f")] for h in photo["holes"]]
    return (markdown(header, body) + "\n\nPhoto hole makers (256x256, batch "
            f"{photo['batch_size']}):\n\n" + markdown(["maker", "images/s"], body2) + "\n\n"
            + caption(files, "Hole makers inside a `tf.function`."))


@table("photo_speed", "speed_photos_cpu.json")
def photo_speed(f):
    d = load(f)
    pipe = markdown(["photo pipeline", "images/s"],
                    [[p["pipeline"], fmt(p["images_per_s"], ".1f")] for p in d["pipeline"]])
    steps = markdown(["training step", "parameters", "images/s", "pipeline / step",
                      "step / plain-Keras step"],
                     [[f"`{s['method']}`", fmt(s["parameters"], ","), fmt(s["images_per_s"], ".2f"),
                       fmt(s["pipeline_over_step"], ".1f"), fmt(s.get("ratio"), ".3f")]
                      for s in d["steps"]])
    return pipe + "\n\n" + steps + "\n\n" + caption(
        [f], f"{d['size']}x{d['size']} crops, batch {d['batch_size']}, bf16.")


@table("freeform_speed", "speed_freeform_cpu.json")
def freeform_speed(f):
    d = load(f)
    body = [[f"`{s['method']}`", fmt(s["square"], ".1f"), fmt(s["freeform"], ".1f"),
             fmt(s["ratio"], ".2f")] for s in d["steps"]]
    return markdown(["method", "images/s, square holes", "images/s, free-form holes",
                     "free-form / square"], body) + "\n\n" + caption(
        [f], f"Training steps, batch {d['batch_size']}, holes made in the step.")


@table("precision_quality", "precision_quality.json")
def precision_quality(f):
    rows = load(f)["rows"]
    header = ["method (budget)", "hole PSNR float32", "hole PSNR bf16", "difference",
              "SWD float32 / bf16", "training images/s float32 / bf16", "ratio"]
    body = []
    for m in dict.fromkeys(r["method"] for r in rows):
        a = next(r for r in rows if r["method"] == m and r["precision"] == "float32")
        b = next(r for r in rows if r["method"] == m and r["precision"] != "float32")
        budget = ", ".join(f"{k} {v}" for k, v in a["settings"].items())
        body.append([f"`{m}` ({budget})", fmt(a["hole_psnr"], ".2f"), fmt(b["hole_psnr"], ".2f"),
                     fmt(b["hole_psnr"] - a["hole_psnr"], "+.2f"),
                     f"{a['swd']:.1f} / {b['swd']:.1f}",
                     f"{a['train_images_per_s']:.0f} / {b['train_images_per_s']:.0f}",
                     fmt(b["speed_ratio"], ".2f") + "x"])
    return markdown(header, body) + "\n\n" + caption(
        [f], "Same budget and seed, every run from a clean folder and scored on its protocol; "
        "training images/s include validation and checkpoints.")


@table("distribute", "distribute_cpu.json")
def distribute(f):
    d = load(f)
    body = [[f"`{r['method']}`", r["distribute"], r["replicas"],
             f"{r['global_batch']} ({r['per_replica_batch']} per replica)",
             fmt(r["images_per_s"], ".0f"), fmt(r["vs_one_device"], ".2f")] for r in d["rows"]]
    return markdown(["method", "strategy", "replicas", "global batch", "training images/s",
                     "vs one device"], body) + "\n\n" + caption([f], sentence(d["note"]))


@table("serving_throughput", "serving_cpu.json")
def serving_throughput(f):
    d = load(f)
    body = [[f"{r['size']}x{r['size']} ({r['png_bytes']:,} B)", r["clients"],
             fmt(r["requests_per_s"], ".1f"), fmt(r["p50_ms"], ".1f"), fmt(r["p99_ms"], ".1f"),
             fmt(r["saved_model_ms"], ".1f")] for r in d["rows"]]
    return markdown(["PNG", "clients", "req/s", "p50 ms", "p99 ms", "SavedModel batch 1 ms"],
                    body) + "\n\n" + caption(
        [f], f"The local REST server on loopback, `inpaint_bytes`, {d['rows'][0]['requests']} "
        "requests per row, an untrained `ae_patch`; the server in its own process, the clients "
        "threads of the benchmark.")


@table("tflite", "tflite_cpu.json")
def tflite(f):
    d = load(f)
    header = ["method", "input", "SavedModel MB", "float32 MB", "dynamic range MB",
              "SavedModel ms", "float32 ms", "dynamic ms", "hole PSNR SavedModel",
              "float32 (max diff /255)", "dynamic (diff dB)"]
    body = []
    for r in d["rows"]:
        mb = [fmt(r[k] / 1e6, ".2f") for k in ("saved_model_bytes", "float32_bytes",
                                                "dynamic_range_bytes")]
        ms = [fmt(r[k], ".2f") for k in ("saved_model_ms", "float32_ms", "dynamic_range_ms")]
        body.append([r["method"], f"{r['size']}x{r['size']}", *mb, *ms,
                     fmt(r["saved_model_hole_psnr"], ".2f"),
                     f"{r['float32_hole_psnr']:.2f} ({r['float32_max_abs_diff_255']:.3f})",
                     f"{r['dynamic_range_hole_psnr']:.2f} "
                     f"({r['dynamic_range_hole_psnr'] - r['saved_model_hole_psnr']:+.2f})"])
    s = d["settings"]
    return markdown(header, body) + "\n\n" + caption(
        [f], f"{s['train_steps']} training steps per method, {s['eval_images']} held-out images "
        f"with protocol holes, batch 1, {s['tflite_threads']} interpreter threads "
        f"({s['interpreter']}), median of {s['repeats']} calls.")


# --- methods, realism, tuning

@table("cvae_diversity", "cvae_diversity.json")
def cvae_diversity(f):
    header = ["design", "epochs", "latent", "KL weight", "prior-mean fill: hole PSNR", "SWD",
              "diversity of 4 draws", "best of 4: hole PSNR", "one draw: hole PSNR / SWD"]
    body = [[r["name"], r["epochs"], r["settings"].get("latent_dim", ""),
             fmt(r["settings"].get("kl_weight"), "g"), fmt(r["default_hole_psnr"], ".2f"),
             fmt(r["default_swd"], ".1f"), fmt(r["diversity"], ".3f"),
             fmt(r["best_of_k_hole_psnr"], ".2f"),
             f"{r['draw_hole_psnr']:.2f} / {r['draw_swd']:.1f}"] for r in load(f)["rows"]]
    return markdown(header, body) + "\n\n" + caption([f], "`cvae_patch`, 1000 test cars.")


@table("cvae_sweep", "cvae_diversity_sweep.json")
def cvae_sweep(f):
    header = ["variant", "epochs", "latent", "KL weight", "mean weight", "hole PSNR",
              "diversity of 4 draws", "best of 4"]
    body = [[r["name"], r["epochs"], r["settings"]["latent_dim"],
             fmt(r["settings"]["kl_weight"], "g"), fmt(r["settings"]["mean_weight"], "g"),
             fmt(r["default_hole_psnr"], ".2f"), fmt(r["diversity"], ".4f"),
             fmt(r["best_of_k_hole_psnr"], ".2f")] for r in load(f)["rows"]]
    return markdown(header, body) + "\n\n" + caption(
        [f], "Short `cvae_patch` runs; each row's own command is in the JSON's rows.")


@table("short_runs", "short_runs.json")
def short_runs(f):
    d = load(f)
    body = [[f"`{r['command']}`", fmt(r["train_seconds"], ".1f"),
             fmt(r["check_export_hole_psnr"], ".2f")] for r in d["rows"]]
    body.append(["scikit-image biharmonic, same holes", "", fmt(d["biharmonic"], ".2f")])
    return markdown(["run", "training s", f"hole PSNR by `{d['checker']}`"], body) + "\n\n" + \
        caption([f], "3-epoch runs from clean folders, each export scored by the independent "
                "checker (1000 test cars).")


@table("realism_anchors", "realism_anchors.json")
def realism_anchors(f):
    d = load(f)
    header = ["protocol", *(r["method"] for r in d["protocols"]["cars"]["rows"]),
              "real floor mean (std)"]
    body = []
    for name, p in d["protocols"].items():
        got = {r["method"]: r["swd"] for r in p["rows"]}
        floor = p.get("real_floor", {})
        body.append([name, *(fmt(got.get(m), ".1f") for m in header[1:-1]),
                     f"{floor['mean']:.1f} ({floor['std']:.1f})" if floor else ""])
    return markdown(header, body) + "\n\n" + caption(
        [f], "SWD (lower is more real) of reference fills on the protocol holes; the real floor "
        "is several disjoint samples of real training images against the test images.")


TUNER = (("supervised", "ae_patch"), ("CVAE", "cvae_patch"), ("GAN", "gan"))


def wall_seconds(log):
    with open(os.path.join(RESULTS, log)) as f:
        text = f.read()
    found = re.findall(r"(?:search wall time:|Search finished in) ([\d.]+) s", text)
    return float(found[-1]) if found else None


@table("tuning", *(f"tuner_{m}_vs_default.json" for _, m in TUNER),
       *(f"tuner_{m}_best_hyperparameters.json" for _, m in TUNER))
def tuning(*files):
    header = ["family (method)", "search wall s", "best trial", "tuned hole PSNR",
              "defaults hole PSNR", "gain dB", "ms/img tuned / defaults"]
    body = []
    for family, m in TUNER:
        rows = {r["method"]: r for r in load(f"tuner_{m}_vs_default.json")["rows"]}
        tuned, default = rows[f"{m}_tuned"], rows[f"{m}_default"]
        hp = load(f"tuner_{m}_best_hyperparameters.json")["hyperparameters"]
        best = ", ".join(f"{k} {v:.2g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in hp.items())
        body.append([f"{family} (`{m}`)", fmt(wall_seconds(f"tuner_{m}_bayesian.log.txt"), ".0f"),
                     best, fmt(tuned["hole_psnr"], ".2f"), fmt(default["hole_psnr"], ".2f"),
                     fmt(tuned["hole_psnr"] - default["hole_psnr"], "+.2f"),
                     f"{tuned['ms_per_image']:.2f} / {default['ms_per_image']:.2f}"])
    return markdown(header, body) + "\n\n" + caption(
        files[:3], "Bayesian search, 8 trials each; the search wall time is the last one its "
        "`tuner_<method>_bayesian.log.txt` prints, the best trial from "
        "`tuner_<method>_best_hyperparameters.json` (no command or machine in those).")


# --- serving limits

@table("serving_single_2048", "single_2048.json")
def serving_single_2048(f):
    d = load(f)
    body = [[side, r["status"], fmt(r["seconds"], ".2f"), f"{r['server_peak_rss_mb']:,} MB "
             f"({r['server_peak_rss_before_request_mb']:,} MB before the request)"]
            for side, r in (("before the limits", d["before"]), ("after", d["after"]))]
    cmds = "; ".join(f"`{d[k]['command']}`" for k in ("before", "after"))
    return markdown(["server", "HTTP status", "seconds", "server peak RSS"], body) + "\n\n" + (
        f"{sentence(d['request'])} Source: `benchmarks/results/single_2048.json`: commands "
        f"{cmds}; machine {machine_text(d['machine'])}. No date is recorded.")


@table("big_photos", "big_photos.json")
def big_photos(f):
    d = load(f)
    body = [[share, f"{m['tfinpaint']['seconds']:.1f}", f"{m['tfinpaint']['peak_rss_mb']:,}",
             f"{m['telea']['seconds']:.1f}", f"{m['telea']['peak_rss_mb']:,}"]
            for share, m in d["median"].items()]
    fr = d["folder_run"]
    return markdown(["mask (share of the photo)", "tfinpaint fill: s", "peak RSS MB",
                     "Telea: s", "peak RSS MB"], body) + "\n\n" + caption(
        [f], f"Kodak photos enlarged to {d['rows'][0]['size']}, brushed masks; each command a "
        "process of its own (start-up, reading and writing the 12 MP PNGs included; median of "
        f"{len(d['rows']) // len(d['median'])} photos, peak of their RSS). A folder of "
        f"{fr['photos']} photos: {fr['seconds_per_photo']:.1f} s each, peak "
        f"{fr['peak_rss_mb']:,} MB. Known pixels unchanged in every output: "
        f"{'yes' if d['all_known_pixels_unchanged'] else 'NO'}.")


@table("load_test_photos", "load_test_photos.json")
def load_test_photos(f):
    return load_test(f)


@table("load_test", "load_test.json")
def load_test(f):
    d = load(f)
    body = [[kind, r["requests"], ", ".join(f"{s}: {n}" for s, n in r["status"].items()),
             fmt(r["p50_ms"], ",.0f"), fmt(r["p99_ms"], ",.0f")]
            for kind, r in d["requests"].items()]
    mix = ", ".join(f"{k} {100 * v:.0f}%" for k, v in d["mix"].items())
    return markdown(["kind", "requests", "answers", "p50 ms", "p99 ms"], body) + "\n\n" + caption(
        [f], f"{d['clients']} clients for {d['seconds']} s against the default limits (mix: "
        f"{mix}); server RSS {d['server_rss_idle_mb']:,} MB idle, peak "
        f"{d['server_peak_rss_mb']:,} MB; {d['client_side_error_count']} client-side errors.")


# --- documents

def documents():
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def check_markers(text, path):
    """ValueError unless every begin marker has its end marker, in order, naming a table."""
    opened = None
    for m in MARKER.finditer(text):
        name, kind = m.groups()
        if kind == "begin":
            if opened:
                raise ValueError(f"{path}: table {name} begins inside table {opened}")
            if name not in TABLES:
                raise ValueError(f"{path}: no table named {name} (known: {', '.join(TABLES)})")
            opened = name
        else:
            if opened != name:
                raise ValueError(f"{path}: end of table {name} without its begin")
            opened = None
    if opened:
        raise ValueError(f"{path}: table {opened} has no end marker")


def updated(text, path="?"):
    """`text` with every table block made afresh."""
    check_markers(text, path)
    return BLOCK.sub(lambda m: (f"<!-- table: {m['name']} begin -->\n{render(m['name'])}"
                                f"<!-- table: {m['name']} end -->"), text)


def stale(paths=None):
    """[(path, table name)] of the blocks that differ from what the JSON makes."""
    out = []
    for path in paths or documents():
        with open(path) as f:
            text = f.read()
        check_markers(text, path)
        for m in BLOCK.finditer(text):
            if m["body"] != render(m["name"]):
                out.append((os.path.relpath(path, ROOT), m["name"]))
    return out


def used(paths=None):
    names = set()
    for path in paths or documents():
        with open(path) as f:
            names |= {m["name"] for m in BLOCK.finditer(f.read())}
    return names


def main(argv):
    if "--list" in argv:
        for name in TABLES:
            print(name, " ".join(sources(name)))
        return 0
    if "--check" in argv:
        bad = stale()
        for path, name in bad:
            print(f"{path}: table {name} differs from benchmarks/results "
                  "(run python benchmarks/docs_tables.py)")
        return 1 if bad else 0
    names = [a for a in argv if not a.startswith("-")]
    if names:
        for name in names:
            print(render(name))
        return 0
    for path in documents():
        with open(path) as f:
            text = f.read()
        new = updated(text, path)
        if new != text:
            with open(path, "w") as f:
                f.write(new)
            print(f"updated {os.path.relpath(path, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
