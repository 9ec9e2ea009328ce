"""Ask a running TF Serving for ViTGAN images over REST and write them as PNGs.

    python export/client.py --model=digits --seeds=1,2,3 --out_dir=/tmp/faces
    python export/client.py --model=digits --num=4 --truncation_psi=0.7
    python export/client.py --model=fashion_cond --seeds=1,2,3 --class_id=7   # conditional

Needs only NumPy and Pillow (no TensorFlow).
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

import numpy as np
from PIL import Image


def predict(server, model, signature, inputs, version=None):
    """POST a columnar predict request; returns the "outputs" of the response."""
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    body = json.dumps({"signature_name": signature, "inputs": inputs}).encode()
    request = urllib.request.Request(server.rstrip("/") + path, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)["outputs"]
    except urllib.error.HTTPError as error:
        raise SystemExit(f"TF Serving answered {error.code}: {error.read().decode()}") from None
    except urllib.error.URLError as error:
        raise SystemExit(f"Cannot reach TF Serving at {server}: {error.reason}. Is it running? "
                         "See export/README.md.") from None


def latent_dim(server, model, version=None):
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + "/metadata"
    with urllib.request.urlopen(server.rstrip("/") + path, timeout=60) as response:
        meta = json.load(response)
    z = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["z"]
    return int(z["tensor_shape"]["dim"][1]["size"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://localhost:8501")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--seeds", default="", help="Comma-separated int seeds "
                        "(generate_from_seeds: the same seed always gives the same image).")
    parser.add_argument("--num", type=int, default=4, help="Random latents when no --seeds.")
    parser.add_argument("--truncation_psi", type=float, default=None)
    parser.add_argument("--class_id", type=int, default=None,
                        help="Conditional models: the class of every image (the class names "
                        "are in the export's assets.extra/vitgan_tf.json).")
    parser.add_argument("--out_dir", default="samples")
    args = parser.parse_args(argv)
    suffix = "" if args.class_id is None else f"_class_{args.class_id}"
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",")]
        inputs, signature = {"seeds": seeds}, "generate_from_seeds"
        names = [f"seed_{s}{suffix}.png" for s in seeds]
    else:
        z = np.random.default_rng().standard_normal(
            (args.num, latent_dim(args.server, args.model, args.version))).tolist()
        inputs, signature = {"z": z}, "serving_default"
        if args.truncation_psi is not None:
            inputs["truncation_psi"], signature = args.truncation_psi, "generate_truncated"
        names = [f"sample_{i}{suffix}.png" for i in range(args.num)]
    if args.class_id is not None:
        inputs["class_id"] = [args.class_id] * len(names)
    outputs = predict(args.server, args.model, signature, inputs, args.version)
    images = np.asarray(outputs["images"] if isinstance(outputs, dict) else outputs, np.uint8)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, image in zip(names, images):
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(
            os.path.join(args.out_dir, name))
    print(f"Wrote {len(names)} images to {args.out_dir}")


if __name__ == "__main__":
    sys.exit(main())
