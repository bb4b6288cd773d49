"""A keyword-spotting data set made offline, and a small DS-CNN trained on it.

The keywords of Speech Commands' 12-class task ("yes", "no", "up", "down", "left", "right", "on",
"off", "stop", "go", plus silence and unknown words) are spoken by Debian's espeak-ng in several
voices, speeds and pitches, placed at a random offset in one second at 16 kHz, mixed with noise at
a random signal-to-noise ratio, and turned into MFCC features as MLPerf Tiny's KWS model takes them:
40 ms frames every 20 ms (49 frames), 40 mel bands from 20 Hz to 4 kHz, log, DCT, 10 coefficients.
Silence is noise alone; unknown words are other words in the same voices.

Deterministic: the same parameters and seed give byte-identical .npz files (espeak-ng's output is
fixed for fixed arguments; every random draw comes from one seeded generator; the archives carry no
timestamps). The split is by utterance: an evaluation sample's (word, voice, speed, pitch) is never
in the training set.

`python -m tinyq.quant.kws DIR` writes DIR/kws_train.npz, kws_eval.npz (x: (N, 49, 10, 1) float32
features, standardized with the training set's mean and deviation; y: class ids), calib.npy,
kws.keras and kws.json (classes, the feature normalization, the accuracy of the Keras model).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyq.errors import BadInput, CheckFailed, ToolMissing
from tinyq.fileio import write_bytes, write_text

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "house", "tree", "wow", "happy", "marvin", "sheila", "five", "learn")
CLASSES = ("silence", "unknown", *KEYWORDS)

RATE = 16000  # samples a second, one second a clip
FRAME = 640  # 40 ms
STRIDE = 320  # 20 ms
N_FFT = 1024
MELS = 40
MFCC = 10
FRAMES = 1 + (RATE - FRAME) // STRIDE  # 49
MEL_LOW, MEL_HIGH = 20.0, 4000.0

VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f2", "en-gb+f4", "en-us+m3", "en-gb-x-rp+f3")
SPEEDS = (120, 150, 180)  # words a minute
PITCHES = (30, 50, 70)  # espeak-ng's 0-99


@dataclass(frozen=True)
class Spec:
    """What to synthesize: voices x speeds x pitches per word; every `eval_every`-th combination is held out."""

    voices: tuple[str, ...] = VOICES
    speeds: tuple[int, ...] = SPEEDS
    pitches: tuple[int, ...] = PITCHES
    eval_every: int = 4
    train_copies: int = 2  # each training utterance at this many offsets / noises
    snr_db: tuple[float, float] = (8.0, 30.0)
    seed: int = 0
    unknown_words: tuple[str, ...] = UNKNOWN_WORDS

    def combos(self) -> list[tuple[str, int, int]]:
        return [(v, s, p) for v in self.voices for s in self.speeds for p in self.pitches]


@dataclass
class KwsData:
    x_train: np.ndarray  # (N, 49, 10, 1) float32, standardized
    y_train: np.ndarray  # (N,) int64 class ids (CLASSES)
    x_eval: np.ndarray
    y_eval: np.ndarray
    mean: np.ndarray  # (10,) the training set's per-coefficient mean before standardizing
    std: np.ndarray
    meta: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------- speech

def espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ToolMissing("espeak-ng is not installed: run `sudo apt-get install espeak-ng` (or `make system`)")
    return exe


def wav_samples(data: bytes, what: str) -> tuple[np.ndarray, int]:
    """(float samples in [-1, 1], rate) of a mono 16-bit PCM WAV. espeak-ng --stdout writes placeholder
    sizes in the RIFF and data headers, so the data chunk runs to the end of the bytes."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise CheckFailed(f"{what}: espeak-ng did not write a WAV file ({len(data)} bytes)")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if tag == b"fmt ":
            fmt = data[pos + 8:pos + 8 + 16]
        elif tag == b"data":
            if fmt is None:
                break
            channels, rate, bits = (int.from_bytes(fmt[2:4], "little"), int.from_bytes(fmt[4:8], "little"),
                                    int.from_bytes(fmt[14:16], "little"))
            if int.from_bytes(fmt[0:2], "little") != 1 or channels != 1 or bits != 16:
                raise CheckFailed(f"{what}: espeak-ng wrote {channels} channel(s) of {bits}-bit audio; expected mono 16-bit PCM")
            body = data[pos + 8:]
            body = body[: len(body) // 2 * 2]
            return np.frombuffer(body, dtype="<i2").astype(np.float64) / 32768.0, rate
        pos += 8 + size + (size & 1)
    raise CheckFailed(f"{what}: no PCM data in espeak-ng's WAV output")


def speak(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """`word` spoken by espeak-ng, resampled to 16 kHz, silence trimmed; float64 samples."""
    what = f"espeak-ng -v {voice} -s {speed} -p {pitch} {word!r}"
    r = subprocess.run([espeak(), "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise CheckFailed(f"{what} failed: {r.stderr.decode(errors='replace').strip()[:200]}")
    s, rate = wav_samples(r.stdout, what)
    n = int(round(len(s) * RATE / rate))
    s = np.interp(np.arange(n) * (rate / RATE), np.arange(len(s)), s)
    loud = np.flatnonzero(np.abs(s) > 0.02 * max(float(np.max(np.abs(s))), 1e-9))
    if loud.size == 0:
        raise CheckFailed(f"{what}: espeak-ng produced silence")
    return s[loud[0]: loud[-1] + 1]


# ------------------------------------------------------------------------------- features

def _mel(f: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(f / 700.0)


def mel_filters() -> np.ndarray:
    """(MELS, N_FFT // 2 + 1) triangular filters equally spaced on the mel scale from MEL_LOW to MEL_HIGH."""
    bins = np.fft.rfftfreq(N_FFT, 1.0 / RATE)
    edges = np.linspace(_mel(np.float64(MEL_LOW)), _mel(np.float64(MEL_HIGH)), MELS + 2)
    m = _mel(bins)
    w = np.zeros((MELS, bins.size))
    for k in range(MELS):
        lo, mid, hi = edges[k], edges[k + 1], edges[k + 2]
        w[k] = np.clip(np.minimum((m - lo) / (mid - lo), (hi - m) / (hi - mid)), 0.0, None)
    return w


def _dct_matrix() -> np.ndarray:
    """Orthonormal DCT-II, the first MFCC rows."""
    n = np.arange(MELS)
    d = np.cos(np.pi / MELS * (n[None, :] + 0.5) * np.arange(MFCC)[:, None]) * np.sqrt(2.0 / MELS)
    d[0] /= np.sqrt(2.0)
    return d


_FILTERS = mel_filters()
_DCT = _dct_matrix()
_WINDOW = np.hanning(FRAME + 1)[:FRAME]


def mfcc(clip: np.ndarray) -> np.ndarray:
    """(49, 10) MFCCs of one second at 16 kHz."""
    if clip.shape != (RATE,):
        raise BadInput(f"mfcc: a clip is {RATE} samples, got shape {clip.shape}")
    idx = np.arange(FRAMES)[:, None] * STRIDE + np.arange(FRAME)[None, :]
    power = np.abs(np.fft.rfft(clip[idx] * _WINDOW, n=N_FFT, axis=1)) ** 2
    return np.log(power @ _FILTERS.T + 1e-6) @ _DCT.T


def _noise(rng: np.random.Generator) -> np.ndarray:
    """One second of white or brown noise, unit RMS."""
    w = rng.standard_normal(RATE)
    if rng.random() < 0.5:
        w = np.cumsum(w)
        w -= np.linspace(w[0], w[-1], RATE)  # no drift
    return w / max(float(np.sqrt(np.mean(w ** 2))), 1e-12)


def clip_of(speech: np.ndarray | None, rng: np.random.Generator, snr_db: tuple[float, float]) -> np.ndarray:
    """One second: `speech` at a random offset (its middle second if longer) plus noise; None: noise only."""
    out = np.zeros(RATE)
    if speech is not None:
        s = speech
        if len(s) > RATE:
            start = (len(s) - RATE) // 2
            s = s[start:start + RATE]
        off = int(rng.integers(0, RATE - len(s) + 1))
        seg = s * rng.uniform(0.3, 1.0) / max(float(np.max(np.abs(s))), 1e-9)
        out[off:off + len(s)] = seg
        level = float(np.sqrt(np.mean(seg ** 2))) / 10 ** (rng.uniform(*snr_db) / 20.0)
    else:
        level = rng.uniform(0.005, 0.1)
    return out + level * _noise(rng)


# ------------------------------------------------------------------------------- the data set

def make_kws(spec: Spec = Spec(), progress=None) -> KwsData:
    """Synthesize, mix and featurize the data set of `spec` (see the module's note)."""
    rng = np.random.default_rng(spec.seed)
    combos = spec.combos()
    if not combos:
        raise BadInput("make_kws: give at least one voice, speed and pitch")
    words = [*KEYWORDS, *spec.unknown_words]
    feats: dict[str, list[np.ndarray]] = {"train": [], "eval": []}
    labels: dict[str, list[int]] = {"train": [], "eval": []}
    per_class = {"train": 0, "eval": 0}
    done, total = 0, len(words) * len(combos)
    unknown: dict[str, list[np.ndarray]] = {"train": [], "eval": []}
    for w in words:
        for k, (voice, speed, pitch) in enumerate(combos):
            part = "eval" if k % spec.eval_every == spec.eval_every - 1 else "train"
            s = speak(w, voice, speed, pitch)
            copies = spec.train_copies if part == "train" else 1
            for _ in range(copies):
                f = mfcc(clip_of(s, rng, spec.snr_db))
                if w in KEYWORDS:
                    feats[part].append(f)
                    labels[part].append(CLASSES.index(w))
                    per_class[part] += 1
                else:
                    unknown[part].append(f)
            done += 1
            if progress is not None:
                progress(done, total)
    for part in ("train", "eval"):
        n = per_class[part] // len(KEYWORDS)  # as many silence and unknown samples as a keyword has
        pick = rng.permutation(len(unknown[part]))[:n]
        for i in sorted(pick.tolist()):
            feats[part].append(unknown[part][i])
            labels[part].append(CLASSES.index("unknown"))
        for _ in range(n):
            feats[part].append(mfcc(clip_of(None, rng, spec.snr_db)))
            labels[part].append(CLASSES.index("silence"))
    xt, xe = np.stack(feats["train"]), np.stack(feats["eval"])
    mean, std = xt.reshape(-1, MFCC).mean(axis=0), xt.reshape(-1, MFCC).std(axis=0) + 1e-6
    order_t, order_e = rng.permutation(len(xt)), rng.permutation(len(xe))

    def norm(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32)[..., None]

    return KwsData(
        x_train=norm(xt)[order_t], y_train=np.asarray(labels["train"], dtype=np.int64)[order_t],
        x_eval=norm(xe)[order_e], y_eval=np.asarray(labels["eval"], dtype=np.int64)[order_e],
        mean=mean.astype(np.float32), std=std.astype(np.float32),
        meta={"classes": list(CLASSES), "voices": list(spec.voices), "speeds": list(spec.speeds),
              "pitches": list(spec.pitches), "seed": spec.seed, "rate": RATE, "frame": FRAME, "stride": STRIDE,
              "mels": MELS, "mfcc": MFCC, "eval_every": spec.eval_every, "train_copies": spec.train_copies},
    )


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive of `arrays` with no timestamps in it: the same arrays give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, a in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(a), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, member.getvalue())
    return buf.getvalue()


def write_kws(d: KwsData, out: Path) -> dict[str, Path]:
    """kws_train.npz, kws_eval.npz (x, y only: what `tinyq compare --eval` reads) and kws.json in `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"train": out / "kws_train.npz", "eval": out / "kws_eval.npz", "meta": out / "kws.json"}
    write_bytes(paths["train"], npz_bytes({"x": d.x_train, "y": d.y_train}))
    write_bytes(paths["eval"], npz_bytes({"x": d.x_eval, "y": d.y_eval}))
    meta = dict(d.meta, mean=[float(v) for v in d.mean], std=[float(v) for v in d.std],
                train=int(len(d.y_train)), eval=int(len(d.y_eval)))
    write_text(paths["meta"], json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return paths


# ------------------------------------------------------------------------------- the model

def build_ds_cnn(classes: int = len(CLASSES), width: int = 32):
    """A small DS-CNN (MLPerf Tiny's KWS shape, narrower and without batch norm): Conv 10x4 stride 2 ->
    2 x (depthwise 3x3 -> pointwise 1x1), each with ReLU -> average pool over the map -> Dense -> Softmax."""
    import keras

    L = keras.layers
    inp = keras.Input(shape=(FRAMES, MFCC, 1), name="mfcc")
    x = L.Conv2D(width, (10, 4), strides=(2, 2), padding="same", activation="relu", name="conv1")(inp)
    for k in (2, 3):
        x = L.DepthwiseConv2D(3, padding="same", activation="relu", name=f"dw{k}")(x)
        x = L.Conv2D(width, 1, activation="relu", name=f"pw{k}")(x)
    x = L.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])), name="pool")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(classes, name="logits")(x)
    out = L.Softmax(name="probs")(x)
    return keras.Model(inp, out, name="kws_ds_cnn")


def train_ds_cnn(d: KwsData, epochs: int = 30, seed: int = 0, width: int = 32, verbose: int = 0):
    """Train the DS-CNN on `d`'s training set on CPU (seconds); deterministic for a given seed."""
    import keras

    keras.utils.set_random_seed(seed)
    m = build_ds_cnn(width=width)
    m.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(d.x_train, d.y_train, batch_size=32, epochs=epochs, shuffle=True, verbose=verbose)
    return m


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(np.asarray(model(x)), axis=1) == y))


def main(argv: list[str] | None = None) -> int:
    """`python -m tinyq.quant.kws DIR [EPOCHS]`: the data set, the trained model and a calibration set in DIR."""
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path("out/kws")
    epochs = int(argv[1]) if len(argv) > 1 else 30
    print(f"synthesizing {len(KEYWORDS) + len(UNKNOWN_WORDS)} words x {len(Spec().combos())} voices/speeds/pitches with espeak-ng ...",
          flush=True)
    d = make_kws(Spec())
    paths = write_kws(d, out)
    print(f"wrote {paths['train']} ({len(d.y_train)} samples) and {paths['eval']} ({len(d.y_eval)} samples)", flush=True)
    m = train_ds_cnn(d, epochs=epochs)
    m.save(out / "kws.keras")
    write_bytes(out / "calib.npy", _npy_bytes(d.x_train[:200]))
    acc = accuracy(m, d.x_eval, d.y_eval)
    meta = json.loads(paths["meta"].read_text())
    meta["keras_eval_accuracy"] = round(acc, 4)
    meta["epochs"] = epochs
    write_text(paths["meta"], json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"DS-CNN after {epochs} epochs: {100 * acc:.2f}% on the {len(d.y_eval)} held-out utterances ({len(CLASSES)} classes)")
    return 0


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


if __name__ == "__main__":
    sys.exit(main())
