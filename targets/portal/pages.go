package portal

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
)

const layoutHead = `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{{block "title" .}}Caisse d'allocations familiales{{end}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/static/portal.css"></head>
<body><header><a class="logo" href="/">Mon Compte Allocataire</a><nav><a href="/">Accueil</a> <a href="/dossier">Mon dossier</a>
<a href="/login">Se connecter</a></nav></header><main>`

const layoutFoot = `</main><footer><p>Caisse d'allocations familiales - Mentions legales - Accessibilite : partiellement conforme -
Donnees personnelles - Plan du site. Pour toute question, utilisez la messagerie de votre espace.</p></footer></body></html>`

var (
	homePage = mustPage(`<h1>Bienvenue</h1><p>Depuis le 9 octobre, connectez-vous avec votre numero de securite sociale.
Lors de votre premiere connexion, utilisez le mot de passe provisoire recu par courrier : vous devrez en choisir un nouveau.</p>
<p><a href="/login">Me connecter</a></p>`)
	loginPage = mustPage(`<h1>Connexion</h1>
<form method="post" action="/login/nir"><label>Numero de securite sociale <input name="nir" autocomplete="username"></label>
<label>Mot de passe <input type="password" name="password"></label><button>Se connecter</button></form>
<details><summary>Je n'ai pas encore migre</summary><form method="post" action="/login"><label>Caisse <input name="caf"></label>
<label>Numero allocataire <input name="number"></label><label>Mot de passe <input type="password" name="password"></label>
<button>Se connecter</button></form></details>`)
	passwordPage = mustPage(`<h1>Bonjour {{.First}}</h1><p>Pour securiser votre compte, choisissez un nouveau mot de passe.</p>
<form method="post" action="/password"><label>Nouveau mot de passe <input type="password" name="new_password"></label>
<button>Valider</button></form>`)
	errorPage   = mustPage(`<h1>Erreur</h1><p>{{.}}</p><p><a href="/login">Retour</a></p>`)
	dossierPage = mustPage(`<h1>Bonjour {{.First}} {{.Last}}</h1>
<section><h2>Mes informations</h2><dl>
<dt>Numero de securite sociale</dt><dd>{{.NIR}}</dd>
<dt>Numero allocataire</dt><dd>{{.CAF}} {{.Number}}</dd>
<dt>Adresse</dt><dd>{{.Street}}, {{.PostalCode}} {{.City}}</dd>
<dt>Courriel</dt><dd>{{.Email}}</dd><dt>Telephone</dt><dd>{{.Phone}}</dd>
<dt>Situation familiale</dt><dd>{{.Family}}</dd><dt>Ressources mensuelles</dt><dd>{{.Salary}}&nbsp;€</dd>
</dl></section>
<section><h2>Mes coordonnees bancaires</h2><p>IBAN : {{.IBAN}}</p>
<form method="post" action="/bank"><label>Nouvel IBAN <input name="iban"></label><button>Modifier</button></form></section>
<section><h2>Mes paiements</h2><table><thead><tr><th>Date</th><th>Prestation</th><th>Montant</th></tr></thead><tbody>
{{range .Payments}}<tr><td>{{.Date}}</td><td>{{.Label}}</td><td>{{.Amount}}&nbsp;€</td></tr>
{{end}}</tbody></table>
<p class="help">Vos droits sont calcules a partir des ressources declarees pour l'annee N-2 et de votre situation familiale.
Les versements interviennent le 5 de chaque mois. En cas de changement de situation, declarez-le sans attendre depuis la
rubrique Mes demarches afin d'eviter un indu. Un indu est une somme versee a tort qu'il faudra rembourser.</p></section>`)
)

func mustPage(body string) *template.Template {
	return template.Must(template.New("page").Parse(layoutHead + body + layoutFoot))
}

func render(w http.ResponseWriter, status int, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = t.Execute(w, data)
}

type payment struct{ Date, Label, Amount string }

type dossierView struct {
	Account
	Payments []payment
}

var paymentLabels = []string{"Allocations familiales", "Aide personnalisee au logement", "Prime d'activite",
	"Complement familial", "Allocation de rentree scolaire", "Revenu de solidarite active"}

// newDossierView formats an account as the page shows it: NIR in its
// printed groups, IBAN in groups of four joined by no-break spaces, phone in
// pairs, and two years of payments.
func newDossierView(a Account) dossierView {
	v := dossierView{Account: a}
	v.NIR = group(a.NIR, " ", 1, 2, 2, 2, 3, 3)
	v.IBAN = group(a.IBAN, "\u00a0", 4, 4, 4, 4, 4, 4)
	v.Phone = group(a.Phone, " ", 2, 2, 2, 2)
	for m := 0; m < 36; m++ {
		x := (a.ID*7919 + m*104729) % 90000
		v.Payments = append(v.Payments, payment{
			Date:   fmt.Sprintf("05/%02d/%d", m%12+1, 2019+m/12),
			Label:  paymentLabels[(a.ID+m)%len(paymentLabels)],
			Amount: fmt.Sprintf("%d,%02d", 50+x/100%900, x%100),
		})
	}
	return v
}

func group(s, sep string, sizes ...int) string {
	var b strings.Builder
	for _, n := range sizes {
		if len(s) <= n {
			break
		}
		b.WriteString(s[:n])
		b.WriteString(sep)
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}
