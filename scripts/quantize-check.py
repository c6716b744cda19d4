#!/usr/bin/env python3
"""Check `ling-serve quantize` against llama.cpp (outside CI; needs a llama.cpp build and gguf-py).

For each --type it
  1. runs `ling-serve quantize` on the checkpoint folder,
  2. runs llama.cpp's own `llama-quantize` on the bf16 GGUF of the same checkpoint (made with the converter when
     --bf16-gguf is not given) and compares the tensor names, shapes and per-tensor types (must match),
  3. loads our file in llama.cpp (`llama-completion`, a few greedy tokens) to prove it loads,
  4. dequantizes our tensors with LingServe's Swift dequantizer (`ling-serve dequantize`) and with gguf-py's
     `gguf.quants.dequantize`, and reports the largest difference; it also reports the RMS error against the bf16
     source of our tensors and of llama-quantize's (a quality comparison, not a pass/fail).
Big tensors are compared on their first --rows rows (0 = all).

    LLAMA_CPP_DIR=.../vendor/llama.cpp /work/peer/venv/bin/python scripts/quantize-check.py \
        --model CHECKPOINT_DIR --llama-bin /work/peer/build/bin [--bf16-gguf X.bf16.gguf] [--types q8_0,q4_k_m] \
        [--work /tmp/quantize-check] [--rows 4096]
Prints a table per type and a JSON summary on the last line; exit status 1 when types differ, a file does not
load, or our dequantizer disagrees with gguf-py's by more than --tolerance.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

LLAMA_CPP_DIR = Path(os.environ.get("LLAMA_CPP_DIR", "/work/peer/llama_cpp_python-0.3.36/vendor/llama.cpp"))
sys.path.insert(0, str(LLAMA_CPP_DIR / "gguf-py"))
import gguf  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    return subprocess.run([str(c) for c in cmd], **kw)


def tensors(path):
    reader = gguf.GGUFReader(str(path))
    return reader, {t.name: t for t in reader.tensors}


def rows_of(t, limit):
    """The first `limit` rows of tensor t as f32 (gguf-py's dequantizer); rows = innermost dimension."""
    row_len = int(t.shape[0])
    data = t.data
    # t.data is shaped [..., row_bytes] (quantized) or [..., row_len] (float); flatten to rows
    flat = data.reshape(-1, data.shape[-1])
    if limit:
        flat = flat[:limit]
    values = dequantize(flat, t.tensor_type)
    return np.asarray(values, dtype=np.float32).reshape(-1, row_len)


def ours_rows(ling_serve, path, name, limit, scratch):
    out = scratch / "rows.f32"
    cmd = [ling_serve, "dequantize", "--gguf", path, "--tensor", name, "--out", out]
    if limit:
        cmd += ["--rows", limit]
    run(cmd, check=True)
    return np.fromfile(out, dtype="<f4")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--llama-bin", default="/work/peer/build/bin", type=Path)
    p.add_argument("--bf16-gguf", type=Path)
    p.add_argument("--types", default="q8_0,q4_k_m,q5_k_m,q6_k")
    p.add_argument("--work", default="/tmp/quantize-check", type=Path)
    p.add_argument("--rows", default=4096, type=int, help="rows compared per tensor (0 = all)")
    p.add_argument("--threads", default=2, type=int)
    p.add_argument("--tolerance", default=1e-6, type=float, help="allowed |ours - gguf-py| relative to the tensor's max |x|")
    p.add_argument("--ling-serve", default=REPO / ".build/release/ling-serve", type=Path)
    p.add_argument("--keep", action="store_true", help="keep the quantized files")
    p.add_argument("--record-types", type=Path,
                   help="merge llama-quantize's per-tensor types into this JSON file under the checkpoint's folder name "
                        "(how Tests/ModelsTests/Fixtures/llama-quantize-types.json was made)")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    name = args.model.resolve().name

    bf16 = args.bf16_gguf
    if bf16 is None:
        bf16 = args.work / f"{name}.bf16.gguf"
        if not bf16.exists():
            run([sys.executable, "/work/shared/tools/convert_with_pre.py", args.model, "--outtype", "bf16",
                 "--outfile", bf16], check=True, env={**os.environ, "LLAMA_CPP_DIR": str(LLAMA_CPP_DIR)})
    _, source = tensors(bf16)

    summary = {"model": str(args.model), "types": {}}
    failed = False
    for qtype in args.types.split(","):
        ours_path = args.work / f"{name}.ours.{qtype}.gguf"
        ref_path = args.work / f"{name}.llama.{qtype}.gguf"
        run([args.ling_serve, "quantize", "--model", args.model, "--type", qtype, "--out", ours_path,
             "--threads", args.threads], check=True)
        run([args.llama_bin / "llama-quantize", bf16, ref_path, qtype.upper(), args.threads], check=True,
            stdout=subprocess.DEVNULL)
        ours_reader, ours = tensors(ours_path)
        ref_reader, ref = tensors(ref_path)

        if args.record_types:
            recorded = json.loads(args.record_types.read_text()) if args.record_types.exists() else {}
            recorded.setdefault(name, {})[qtype] = {t: ref[t].tensor_type.name for t in sorted(ref)}
            args.record_types.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")

        # 1. names, shapes, types
        mismatches = []
        for tname in sorted(set(ours) | set(ref)):
            a, b = ours.get(tname), ref.get(tname)
            if a is None or b is None:
                mismatches.append(f"{tname}: only in {'llama.cpp' if a is None else 'ours'}")
            elif a.tensor_type != b.tensor_type or list(a.shape) != list(b.shape):
                mismatches.append(f"{tname}: ours {a.tensor_type.name} {list(map(int, a.shape))}, "
                                  f"llama.cpp {b.tensor_type.name} {list(map(int, b.shape))}")
        ours_keys = {k for k in ours_reader.fields if not k.startswith("GGUF.")}
        ref_keys = {k for k in ref_reader.fields if not k.startswith("GGUF.")}
        key_diff = sorted(ours_keys ^ ref_keys)
        value_diff = sorted(k for k in ours_keys & ref_keys
                            if ours_reader.fields[k].contents() != ref_reader.fields[k].contents())
        types_match = not mismatches
        same_bytes = sum(1 for tname, t in ours.items() if tname in ref and t.tensor_type == ref[tname].tensor_type
                         and np.array_equal(np.asarray(t.data).view(np.uint8), np.asarray(ref[tname].data).view(np.uint8)))

        # 2. llama.cpp loads our file
        def llama_loads(path):
            load = run([args.llama_bin / "llama-completion", "-m", path, "-p", "Hello", "-n", "4", "--temp", "0",
                        "-no-cnv", "-t", args.threads, "-c", "256"], capture_output=True, text=True, errors="replace")
            if load.returncode != 0:
                print(load.stderr[-3000:], file=sys.stderr)
            return load.returncode == 0
        loads = llama_loads(ours_path)
        # When ours does not load, see whether llama.cpp loads its own quantization of the same checkpoint (a
        # checkpoint whose shapes llama.cpp's bailingmoe2 does not support fails both).
        ref_loads = loads or llama_loads(ref_path)

        # 3. our dequantizer vs gguf-py's; RMS error vs the bf16 source, ours and llama.cpp's
        max_diff = 0.0
        worst = ""
        rms_ours, rms_ref = [], []
        for tname, t in ours.items():
            limit = args.rows if int(np.prod(t.shape)) // int(t.shape[0]) > args.rows > 0 else 0
            py = rows_of(t, limit).reshape(-1)
            sw = ours_rows(args.ling_serve, ours_path, tname, limit, args.work)
            if py.shape != sw.shape:
                max_diff, worst = float("inf"), f"{tname}: {py.shape} vs {sw.shape}"
                continue
            scale = float(np.max(np.abs(py))) or 1.0
            diff = float(np.max(np.abs(py - sw))) / scale if py.size else 0.0
            if diff > max_diff:
                max_diff, worst = diff, tname
            if t.tensor_type not in (gguf.GGMLQuantizationType.F32,) and tname in source and tname in ref:
                src = rows_of(source[tname], limit).reshape(-1)
                rf = rows_of(ref[tname], limit).reshape(-1)
                norm = float(np.sqrt(np.mean(src.astype(np.float64) ** 2))) or 1.0
                rms_ours.append((tname, float(np.sqrt(np.mean((sw - src).astype(np.float64) ** 2))) / norm))
                rms_ref.append((tname, float(np.sqrt(np.mean((rf - src).astype(np.float64) ** 2))) / norm))
        mean_ours = float(np.mean([r for _, r in rms_ours])) if rms_ours else 0.0
        mean_ref = float(np.mean([r for _, r in rms_ref])) if rms_ref else 0.0
        dequant_ok = max_diff <= args.tolerance

        counts = {}
        for t in ours.values():
            counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
        print(f"\n== {name} {qtype}: {len(ours)} tensors {counts}")
        print(f"   types match llama-quantize: {'yes' if types_match else 'NO'}")
        for m in mismatches[:20]:
            print("     ", m)
        print(f"   tensors with byte-identical data to llama-quantize's: {same_bytes} of {len(ours)}")
        print(f"   metadata keys only on one side: {key_diff if key_diff else 'none'}; "
              f"keys whose values differ: {value_diff if value_diff else 'none'}")
        print(f"   llama.cpp loads ours: {'yes' if loads else 'NO'}"
              + ("" if loads else f" (llama.cpp's own quantization: {'loads' if ref_loads else 'does not load either'})"))
        print(f"   max |ours - gguf-py dequantize| / max|x|: {max_diff:.3g} ({worst or '-'})")
        print(f"   mean relative RMS error vs bf16 source: ours {mean_ours:.5f}, llama-quantize {mean_ref:.5f}")
        summary["types"][qtype] = {"types_match": types_match, "mismatches": mismatches, "metadata_key_diff": key_diff, "metadata_value_diff": value_diff,
                                   "identical_tensors": same_bytes,
                                   "llama_cpp_loads": loads, "llama_cpp_loads_its_own": ref_loads, "max_dequant_diff": max_diff, "worst": worst,
                                   "rms_ours": mean_ours, "rms_llama": mean_ref, "tensor_types": counts}
        failed |= not (types_match and (loads or not ref_loads) and dequant_ok and not key_diff and not value_diff)
        if not args.keep:
            ours_path.unlink(missing_ok=True)
            ref_path.unlink(missing_ok=True)
    print(json.dumps(summary))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
