#!/usr/bin/env bash
# Makes the local course's sample videos in media/ (committed; rerun only to change them). Needs Debian's
# ffmpeg (apt-get install ffmpeg) with its DejaVu fonts. Each video is as long as its lesson in
# supabase/seed.sql: a still card with the lesson's title and a running clock, VP9 in WebM at 1 frame a
# second (a few hundred KB for 15 minutes; every browser plays it). sample-20s.webm is the tests' short lesson.
set -euo pipefail
cd "$(dirname "$0")/../media"
sans=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
mono=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf

make_video() { # <file> <seconds> <title>
  ffmpeg -hide_banner -loglevel error -f lavfi -i "color=c=0x1d3557:s=320x180:r=1" -t "$2" \
    -vf "drawtext=fontfile=$sans:text='$3':fontcolor=white:fontsize=14:x=(w-tw)/2:y=60,drawtext=fontfile=$mono:text='%{pts\:hms}':fontcolor=0xf1faee:fontsize=22:x=(w-tw)/2:y=100" \
    -c:v libvpx-vp9 -b:v 4k -g 60 -an -y "$1"
  echo "$1: $2 s, $(stat -c %s "$1") bytes"
}

make_video lesson-67.webm 600 "Lesson 1. Who buys and why"
make_video lesson-68.webm 720 "Lesson 2. Questions that open a deal"
make_video lesson-69.webm 900 "Lesson 3. Asking for the payment"
make_video sample-20s.webm 20 "A 20-second test lesson"
