#!/usr/bin/python3 -SE
# A stand-in for docker-compose v1 (the fake docker has no `compose`): it logs each call with its
# working directory to $FAKE_DOCKER_STATE/compose.log and, for `up --force-recreate`, gives the
# named services' containers the env file's variables again ($FAKE_COMPOSE_ENV_FILE, after the
# image's own $FAKE_COMPOSE_BASE_ENV, space-separated), as compose does for env_file: when it
# recreates a container. FAKE_COMPOSE_NOOP=1: a compose that answers and changes nothing.
# Python, as the fake docker is: a Node start-up per call costs ten times the CPU.
import json, os, re, sys
args = sys.argv[1:]
state = os.environ['FAKE_DOCKER_STATE']
with open(os.path.join(state, 'compose.log'), 'a') as log:
    log.write(json.dumps({'cwd': os.getcwd(), 'args': args}) + '\n')
if args[:1] == ['version']:
    print('docker-compose version 1.29.2')
    sys.exit(0)
if os.environ.get('FAKE_COMPOSE_NOOP'):
    sys.exit(0)
project = args[args.index('-p') + 1] if '-p' in args else args[0]
services = args[args.index('--force-recreate') + 1:] if '--force-recreate' in args else args
path = os.path.join(state, 'containers.json')
with open(path) as f:
    everything = json.load(f)
with open(os.environ['FAKE_COMPOSE_ENV_FILE']) as f:
    env = [l for l in f.read().split('\n') if re.match(r'[A-Z_][A-Z0-9_]*=', l)]
base = os.environ.get('FAKE_COMPOSE_BASE_ENV', '').split()
for c in everything.values():
    labels = (c.get('Config') or {}).get('Labels') or {}
    if labels.get('com.docker.compose.project') == project and labels.get('com.docker.compose.service') in services:
        c['Config']['Env'] = [*base, *env]
        c['RestartCount'] = 0
        c['State']['Status'] = 'running'
with open(path, 'w') as f:
    json.dump(everything, f, indent=2)
