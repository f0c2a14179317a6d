#!/usr/bin/env bash
# Build the one-folder app (dist/findling/) with PyInstaller and check it by running the built
# binary's --selftest offscreen: index the bundled sample folder, search, screenshot.
#
#   bash packaging/build.sh            # about 5 to 10 minutes on 2 cores; 1.4 GB with PyTorch
#   bash packaging/build.sh --lite     # no PyTorch: ONNX Runtime only, the bundled model as ONNX
#
# dist/findling/ (or dist/findling-lite/) holds findling-desktop (the app), findling (the command
# line) and share/ (the .desktop entries and hicolor icons, ready to copy under ~/.local/share or
# /usr/share). The lite build runs models that have ONNX files (the bundled all-MiniLM-L6-v2,
# exported here; hub models that ship onnx/model.onnx); the full build also runs any
# sentence-transformers model on PyTorch and can export new ones.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[packaging]"
name=findling
if [ "${1:-}" = "--lite" ]; then
  name=findling-lite
  bundled=$(python -c 'from indexer.models.embedding import bundled_model_path; print(bundled_model_path())')
  # float32: the int8 variant of this small model misses the 0.99 cosine bar (0.988)
  FINDLING_MODELS_DIR=build/lite-models python -m indexer.cli export-onnx "$bundled" --quantize none \
    --out build/bundled-onnx
  export FINDLING_LITE_ONNX="$PWD/build/bundled-onnx/model.onnx"
fi
python -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath "build/pyinstaller-$name" \
  packaging/findling.spec

share=dist/$name/share
mkdir -p "$share/applications" "$share/autostart" "$share/icons/hicolor/scalable/apps"
cp packaging/linux/findling.desktop "$share/applications/findling.desktop"
cp packaging/linux/findling-autostart.desktop "$share/autostart/findling.desktop"
cp desktop/icons/findling.svg "$share/icons/hicolor/scalable/apps/findling.svg"
for png in desktop/icons/findling-*.png; do
  size=$(basename "$png" .png); size=${size#findling-}
  mkdir -p "$share/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$share/icons/hicolor/${size}x${size}/apps/findling.png"
done
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$share/applications/findling.desktop" "$share/autostart/findling.desktop"
fi

echo "Checking the build: findling --version, then findling-desktop --selftest" >&2
"dist/$name/findling" --version
rm -rf "build/selftest-$name"
QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 FINDLING_MODELS_DIR="build/selftest-$name/models" \
  "dist/$name/findling-desktop" --selftest "build/selftest-$name"
du -sh "dist/$name"
echo "Built and checked: dist/$name (selftest screenshots in build/selftest-$name)" >&2
