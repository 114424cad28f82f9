#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| osg_gateway::fuzzing::chunk_framing(data));
