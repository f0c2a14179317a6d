#!/usr/bin/env bash
# Build the one-folder app (dist/findling/) with PyInstaller and check it by running the built
# binary's --selftest offscreen: index the bundled sample folder, search, screenshot.
#
#   bash packaging/build.sh            # about 5 to 10 minutes on 2 cores; about 1.5 GB with torch
#
# dist/findling/ holds findling-desktop (the app), findling (the command line) and share/
# (the .desktop entries and hicolor icons, ready to copy under ~/.local/share or /usr/share).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[packaging]"
python -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
  packaging/findling.spec

share=dist/findling/share
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
dist/findling/findling --version
rm -rf build/selftest
QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 dist/findling/findling-desktop --selftest build/selftest
du -sh dist/findling
echo "Built and checked: dist/findling (selftest screenshots in build/selftest)" >&2
