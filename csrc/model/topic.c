/**
 * @file topic.c
 * @brief A broker's answer to a Metadata request naming a topic that a
 * producer sent to before the cluster had it (KafkaApis.getTopicMetadata
 * with the broker's metadata cache: a broker answers from the metadata it
 * has replayed, so a topic the controller has just created is
 * UNKNOWN_TOPIC_OR_PARTITION on a broker that has not yet received it).
 *
 * Auto-creation (auto.create.topics.enable, Kafka's default true, and the
 * request's AllowAutoTopicCreation, librdkafka's allow.auto.create.topics):
 * the broker has the topic created (AutoTopicCreationManager: a
 * CreateTopics to the controller, with num.partitions and
 * default.replication.factor) and answers LEADER_NOT_AVAILABLE.  The model
 * creates it at the controller at once (the forwarding hop is left out).
 * Without an active controller, or with default.replication.factor above
 * the brokers, nothing is created and the answer is
 * UNKNOWN_TOPIC_OR_PARTITION (Kafka answers INVALID_REPLICATION_FACTOR for
 * the latter; the model's producer treats both alike).  The producer's
 * side is in producer.c.
 *
 * Topics are created here, by the API (c:create_topic) and by
 * auto-creation alike: round-robin replica assignment, the first replica
 * leads, every replica in the ISR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int insync_cluster_topic(const insync_cluster_t *c, const char *name) {
        for (int t = 0; t < c->ntopics; t++)
                if (strcmp(c->topics[t].name, name) == 0)
                        return t;
        return -1;
}

int insync_cluster_wanted_topic(insync_cluster_t *c, const char *name) {
        for (int w = 0; w < c->nwanted; w++)
                if (strcmp(c->wanted[w], name) == 0)
                        return w;
        char **v = realloc(c->wanted, (size_t)(c->nwanted + 1) * sizeof(*v));
        if (!v)
                return -1;
        c->wanted = v;
        if (!(v[c->nwanted] = strdup(name)))
                return -1;
        return c->nwanted++;
}

const char *insync_cluster_topic_name(const insync_cluster_t *c, int t) {
        return t >= 0 && t < c->ntopics ? c->topics[t].name : NULL;
}

int insync_cluster_topic_partitions(const insync_cluster_t *c, int t) {
        return t >= 0 && t < c->ntopics ? c->topics[t].partitions : 0;
}

int insync_cluster_create_topic(insync_cluster_t *c, const char *name,
                                int partitions, int rf, int min_isr,
                                int unclean, int64_t flush_messages,
                                int64_t flush_ms,
                                const int *assignment, char *err,
                                size_t errlen) {
        if (insync_cluster_topic(c, name) >= 0) {
                snprintf(err, errlen, "topic '%s' already exists", name);
                return -1;
        }
        if (!c->ctl_active) {
                /* CreateTopics needs the active controller */
                snprintf(err, errlen, "no active controller (the quorum has no leader)");
                return -1;
        }
        if (c->ntopics >= UINT8_MAX) {
                snprintf(err, errlen, "too many topics (at most %d)", UINT8_MAX - 1);
                return -1;
        }
        if (partitions < 1 || partitions > INSYNC_MAX_PARTITIONS) {
                snprintf(err, errlen, "partitions: expected 1..%d, got %d",
                         INSYNC_MAX_PARTITIONS, partitions);
                return -1;
        }
        if (rf < 1 || rf > c->nbrokers) {
                snprintf(err, errlen,
                         "replication_factor: %d is larger than the number of "
                         "brokers (%d)",
                         rf, c->nbrokers);
                if (rf < 1)
                        snprintf(err, errlen,
                                 "replication_factor: expected at least 1, got %d", rf);
                return -1;
        }
        uint64_t replicas = (uint64_t)partitions * (uint64_t)rf;
        for (int t = 0; t < c->ntopics; t++)
                replicas += (uint64_t)c->topics[t].partitions *
                            (uint64_t)c->topics[t].rf;
        if (replicas > INSYNC_MAX_REPLICAS) {
                snprintf(err, errlen,
                         "partitions: %d partitions of %d replicas would make "
                         "%llu partition replicas in the cluster (at most %d)",
                         partitions, rf, (unsigned long long)replicas,
                         INSYNC_MAX_REPLICAS);
                return -1;
        }
        uint32_t ngp = c->ngp + (uint32_t)partitions;
        insync_topic_t *topics = realloc(c->topics, (size_t)(c->ntopics + 1) * sizeof(*topics));
        if (!topics)
                goto nomem;
        c->topics = topics;
        insync_cpart_t *cp = realloc(c->cp, ngp * sizeof(*cp));
        if (!cp)
                goto nomem;
        c->cp = cp;
        for (int b = 1; b <= c->nbrokers; b++) {
                insync_broker_t *br = &c->br[b];
                insync_replica_t **rep = realloc(br->rep, ngp * sizeof(*rep));
                if (!rep)
                        goto nomem;
                br->rep = rep;
                insync_meta_t *meta = realloc(br->meta, ngp * sizeof(*meta));
                if (!meta)
                        goto nomem;
                br->meta = meta;
                for (uint32_t gp = c->ngp; gp < ngp; gp++) {
                        rep[gp] = NULL;
                        meta[gp].leader = -1;
                        meta[gp].epoch = -1;
                        meta[gp].pepoch = -1;
                }
        }
        insync_topic_t *t = &c->topics[c->ntopics];
        t->name = strdup(name);
        if (!t->name)
                goto nomem;
        t->hash = 0;
        for (const char *q = name; *q; q++) /* Java's String.hashCode */
                t->hash = (int32_t)(31u * (uint32_t)t->hash + (uint8_t)*q);
        t->partitions = partitions;
        t->rf = rf;
        t->gp0 = c->ngp;
        t->min_isr = min_isr;
        t->unclean = unclean;
        t->flush_messages = flush_messages;
        t->flush_ms = flush_ms;
        t->wanted = -1;
        for (int w = 0; w < c->nwanted; w++)
                if (strcmp(c->wanted[w], name) == 0)
                        t->wanted = w;
        for (int p = 0; p < partitions; p++) {
                uint32_t gp = c->ngp + (uint32_t)p;
                insync_cpart_t *x = &c->cp[gp];
                memset(x, 0, sizeof(*x));
                x->topic = c->ntopics;
                x->part = p;
                x->rf = rf;
                x->leader = -1;
                c->imbalanced++; /* no leader yet: not the preferred one */
                for (int i = 0; i < rf; i++)
                        x->replicas[i] = assignment ? assignment[p * rf + i]
                                                    : 1 + (p + i) % c->nbrokers;
                for (int i = 0; i < rf; i++) {
                        int b = x->replicas[i];
                        insync_broker_t *br = &c->br[b];
                        if (br->ngps == br->gpscap) {
                                uint32_t cap = br->gpscap ? br->gpscap * 2 : 16;
                                uint32_t *v = realloc(br->gps, cap * sizeof(*v));
                                if (!v)
                                        goto nomem;
                                br->gps = v;
                                br->gpscap = cap;
                        }
                        insync_replica_t *r = calloc(1, sizeof(*r));
                        if (!r)
                                goto nomem;
                        r->f = calloc((size_t)rf, sizeof(*r->f));
                        if (!r->f) {
                                free(r);
                                goto nomem;
                        }
                        br->gps[br->ngps++] = gp;
                        r->leader = -1;
                        r->epoch = -1;
                        r->pepoch = -1;
                        r->log.last_flush = c->now;
                        c->br[b].rep[gp] = r;
                        if (!c->br[b].fenced)
                                x->isr |= (uint64_t)1 << b;
                }
                if (!x->isr)
                        x->isr = (uint64_t)1 << x->replicas[0];
        }
        uint32_t first = c->ngp;
        c->ngp = ngp;
        c->ntopics++;
        /* The controller elects and tells every broker, as on creation. */
        for (uint32_t gp = first; gp < ngp; gp++) {
                insync_cpart_t *x = &c->cp[gp];
                x->epoch = -1;
                insync_controller_elect(c, gp, 0);
                insync_controller_broadcast(c, gp);
        }
        insync_controller_maybe_schedule_balance(c);
        for (int i = 0; i < c->nprod; i++)
                if (insync_producer_grow(c, c->prod[i]))
                        goto nomem;
        return 0;
nomem:
        snprintf(err, errlen, "out of memory");
        return -1;
}

void insync_topic_req(insync_cluster_t *c, int b, insync_msg_t *m) {
        if (m->gp >= (uint32_t)c->nwanted)
                return;
        uint32_t w = m->gp;
        int from = m->from, allow = m->leader;
        int t = insync_cluster_topic(c, c->wanted[w]);
        int err = 0;
        if (t < 0 && allow && c->conf.auto_create) {
                char e[160];
                if (insync_cluster_create_topic(c, c->wanted[w], c->conf.default_partitions,
                                                c->conf.default_rf, c->conf.min_isr, -1, -1, -1,
                                                NULL, e, sizeof(e)) == 0) {
                        t = insync_cluster_topic(c, c->wanted[w]);
                        err = INSYNC_KERR_LEADER_NOT_AVAILABLE;
                }
        }
        if (!err && (t < 0 || c->br[b].meta[c->topics[t].gp0].epoch < 0))
                err = INSYNC_KERR_UNKNOWN_TOPIC_OR_PART;
        insync_msg_t *r = insync_net_msg(c, INSYNC_M_TOPIC_RESP, b, from);
        r->gp = w;
        r->leader = t;
        r->err = err;
        insync_net_send(c, r);
}
