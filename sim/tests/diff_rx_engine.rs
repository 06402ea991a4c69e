//! The RX DMA engine, differentially: rust-hdl's simulator and the Verilator model of
//! `oxnic_rx_engine` on the same open-loop random stimulus (`rx_engine::random_stimulus`: eight
//! queues with moving doorbells and resets, frames with metadata for existing and missing
//! queues, descriptor read responses with random lengths and errors, backpressure on both DMA
//! ports), every output compared on every cycle. The agreed outputs are also checked for the
//! engine's port rules: DMA write requests are runs of words with `keep` contiguous and full on
//! all but the last word, and every delivered frame is followed by exactly one completion of
//! two 128-bit words.

use oxnic_hdl::rx_engine;
use oxnic_hdl::stream_stimulus::value_at;
use oxnic_sim::diff;
use oxnic_sim::models;

#[test]
fn rx_engine_agrees_and_keeps_the_port_rules() {
    let stim = rx_engine::random_stimulus(1201, 30_000);
    let mut requests = 0u64;
    let mut words_in_request = 0u64;
    let mut two_word_requests = 0u64;
    let mut last = None;
    diff::run(
        rx_engine::RxEngine::new(rx_engine::CATALOG_QUEUES),
        models::oxnic_rx_engine::Model::new(),
        &stim,
        |c, s| {
            let ready =
                (c as usize) < stim.len() && value_at(&stim, "dma_wr$ready", c as usize)[0] == 1;
            if s.get("dma_wr$valid") == 1 && ready {
                let keep = s.get("dma_wr$keep");
                let is_last = s.get("dma_wr$last") == 1;
                assert!((keep + 1).is_power_of_two(), "cycle {c}: keep {keep:#x}");
                assert!(
                    keep == 0xffff || is_last,
                    "cycle {c}: partial word not last"
                );
                words_in_request += 1;
                if is_last {
                    requests += 1;
                    if words_in_request == 2 && keep == 0xffff {
                        two_word_requests += 1;
                    }
                    words_in_request = 0;
                }
            }
            last = Some((
                s.get("rx_packets"),
                s.get("rx_no_buffer"),
                s.get("rx_too_long"),
                s.get("dma_rd_errors"),
            ));
        },
    )
    .unwrap();
    let (packets, no_buffer, too_long, rd_errors) = last.unwrap();
    println!(
        "packets {packets} no_buffer {no_buffer} too_long {too_long} rd_errors {rd_errors} \
         write requests {requests}"
    );
    // Every path was exercised.
    assert!(packets > 20 && no_buffer > 20 && too_long > 5 && rd_errors > 0);
    // Each delivered frame is a data request then a 32-byte completion request.
    assert!(requests >= 2 * packets && requests <= 2 * packets + 2);
    assert!(two_word_requests >= packets);
}
