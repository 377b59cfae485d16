"""The node runtime: one asyncio loop driving a replica over real disks, sockets and clocks."""
