#!/usr/bin/env bash
# The training cache of the broad default (docs/data.md): every training source at 256 px, photos under 128 px
# dropped, the evaluation sets and the held-out people split excluded by near-duplicate search.
#
#   scripts/prepare-training-cache.sh LAYOUT SHARED_DATA OUT [CHROMALAB]
#
# LAYOUT is what scripts/split-training-photos.py wrote (LAYOUT/train/<source>, LAYOUT/people); SHARED_DATA holds
# train128, val128, eval/{kodak24,mcmaster,cbsd68} and demo-bw; CHROMALAB defaults to the chromalab on PATH.
set -euo pipefail
layout=${1:?usage: $0 LAYOUT SHARED_DATA OUT [CHROMALAB]}
data=${2:?usage: $0 LAYOUT SHARED_DATA OUT [CHROMALAB]}
out=${3:?usage: $0 LAYOUT SHARED_DATA OUT [CHROMALAB]}
chromalab=${4:-chromalab}

sources=()
for name in utkface caltech101 clothing webfaces pacs flickr imagenet1 imagenet5 dreambooth t91; do
  sources+=("$layout/train/$name")
done
exclude=()
for folder in "$data/eval/kodak24" "$data/eval/mcmaster" "$data/eval/cbsd68" "$data/val128" "$layout/people" \
              "$data/demo-bw"; do
  exclude+=(--exclude "$folder")
done
"$chromalab" prepare "${sources[@]}" "$data/train128" --size 256 --min-side 128 --val-fraction 0.02 \
  "${exclude[@]}" -o "$out"
