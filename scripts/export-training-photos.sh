#!/usr/bin/env bash
# Copies the broad training photos of docs/data.md out of fetched repositories.
#
#   scripts/export-training-photos.sh MIRROR_DIR OUT_DIR [EXPORT_TOOL]
#
# MIRROR_DIR holds one fetched repository per folder, named owner+name (what the fetch tool
# writes: MIRROR_DIR/owner+name/repo). EXPORT_TOOL defaults to ../shared/tools/export-photos.
# Each source lands in OUT_DIR/<source>/, its sub-folders kept (prepare reads them as classes).
set -euo pipefail
mirror=${1:?usage: $0 MIRROR_DIR OUT_DIR [EXPORT_TOOL]}
out=${2:?usage: $0 MIRROR_DIR OUT_DIR [EXPORT_TOOL]}
tool=${3:-"$(dirname "$0")/../../shared/tools/export-photos"}

# source name | repository | path inside it
sources=(
  "utkface|xerow03/UTKFace|data"
  "caltech101|MachineLearning2020/Homework2-Caltech101|101_ObjectCategories"
  "clothing|alexeygrigorev/clothing-dataset|images"
  "webfaces|chandrikadeb7/Face-Mask-Detection|dataset/without_mask"
  "pacs|MachineLearning2020/Homework3-PACS|PACS/photo"
  "flickr|ZhengyuZhao/Targeted-Tansfer|dataset/images"
  "imagenet1|EliSchwartz/imagenet-sample-images|."
  "imagenet5|ajschumacher/imagen|imagen"
  "dreambooth|google/dreambooth|dataset"
  "t91|jiny2001/dcscn-super-resolution|data/yang91"
)
for entry in "${sources[@]}"; do
  IFS='|' read -r name repo path <<<"$entry"
  git_dir="$mirror/${repo/\//+}/repo"
  if [ ! -d "$git_dir" ]; then
    echo "error: $git_dir: not fetched (fetch github:$repo first)" >&2
    exit 2
  fi
  if [ -d "$out/$name" ]; then
    echo "$name: $out/$name exists, kept"
    continue
  fi
  printf '%s: ' "$name"
  python3 "$tool" "$git_dir" "$path" "$out/$name.partial"
  mv "$out/$name.partial" "$out/$name"
done
