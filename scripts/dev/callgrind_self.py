#!/usr/bin/env python3
"""Self cost per function and per object of a callgrind dump, per request:
     scripts/dev/callgrind_self.py DIR/callgrind.out [REQUESTS=2000] [TOP=60]
for the dump `scripts/dev/callgrind.sh --keep DIR` keeps. callgrind_annotate reads that
partial dump (part 2, counters zeroed at request 1000) as one inclusive lump; this sums the cost
lines of each function that are not call costs."""
import sys, collections, re
self_cost=collections.Counter(); obj_cost=collections.Counter()
fn=None; ob=None; skip=False; fnob={}
for line in open(sys.argv[1]):
    line=line.rstrip('\n')
    if line.startswith('ob='): ob=line[3:]; continue
    if line.startswith('fn='): fn=line[3:]; fnob[fn]=ob; continue
    if line.startswith(('cob=','cfi=','cfn=','cfl=')): continue
    if line.startswith('calls='): skip=True; continue
    if line and (line[0].isdigit() or line[0] in '+-*'):
        parts=line.split()
        if len(parts)>=2:
            c=int(parts[1])
            if skip: skip=False; continue
            self_cost[fn]+=c; obj_cost[fnob.get(fn)]+=c
        continue
    if line.startswith(('fl=','fi=','fe=')): continue
N=int(sys.argv[2]) if len(sys.argv)>2 else 2000
tot=sum(self_cost.values()); print('total/req', tot//N)
for o,c in obj_cost.most_common(): print(f'{c//N:7d} {o}')
print()
for f,c in self_cost.most_common(int(sys.argv[3]) if len(sys.argv)>3 else 60): print(f'{c//N:7d} {f[:170]}')
