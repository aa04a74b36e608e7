#!/usr/bin/python3
"""A WebSocket echo server for lxlb's tunnel tests (python3-websockets).

    /usr/bin/python3 wsecho.py --port 0 --name NAME

Prints "READY <port>" once listening. Every text or binary message comes
back as "NAME:<message>" (text) or unchanged (binary). A message "push N"
makes the server send N messages on its own ("NAME:push i"), to check the
server-to-client direction without a request. The path /close-after-hello
sends "hello" and closes. Runs until killed."""
import argparse
import asyncio
import sys

import websockets


async def handler(ws, path, name):
    if path == "/close-after-hello":
        await ws.send("hello")
        await ws.close()
        return
    async for msg in ws:
        if isinstance(msg, str) and msg.startswith("push "):
            for i in range(int(msg.split()[1])):
                await ws.send("%s:push %d" % (name, i))
            continue
        await ws.send("%s:%s" % (name, msg) if isinstance(msg, str) else msg)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--name", default="ws")
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    server = await websockets.serve(lambda ws, path: handler(ws, path, a.name), a.host, a.port,
                                    max_size=None, ping_interval=None)
    port = server.sockets[0].getsockname()[1]
    print("READY %d" % port, flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
