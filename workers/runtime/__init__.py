"""The thin Faust shell: build the app, decode inputs, call the core, write tables, emit."""
