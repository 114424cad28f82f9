#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| osg_gateway::fuzzing::unhonoured(data));
